// The player: Shaka Player for HLS and DASH, a quality selector, and a seek bar with storyboard thumbnails.
import { html, nothing } from "lit";
import { api, outputUrl } from "./api.js";
import { LightElement, signedOut } from "./app.js";
import { jobName } from "./jobs-page.js";

function clock(seconds) {
  if (!Number.isFinite(seconds)) return "0:00";
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** Shaka is large: the player page loads it on first use, in its own chunk. */
async function loadShaka() {
  const { default: shaka } = await import("shaka-player/dist/shaka-player.compiled-es2021.js");
  shaka.polyfill.installAll();
  return shaka;
}

class PlayerPage extends LightElement {
  static properties = {
    jobId: {},
    job: { state: true },
    format: { state: true },
    heights: { state: true },
    quality: { state: true },
    time: { state: true },
    duration: { state: true },
    preview: { state: true },
    error: { state: true },
  };

  constructor() {
    super();
    this.job = null;
    this.format = "hls";
    this.heights = [];
    this.quality = "auto";
    this.time = 0;
    this.duration = 0;
    this.preview = null;
    this.error = null;
    this.thumbnails = null;
  }

  async connectedCallback() {
    super.connectedCallback();
    try {
      this.job = (await api().getJob(this.jobId)).data;
    } catch (error) {
      if (error.status === 401) return signedOut();
      this.error = error.status === 404 ? "There is no such job." : `The job could not be loaded: ${error.message}`;
      return;
    }
    if (!this.#url("hls") && !this.#url("dash")) {
      this.error = `This job has nothing to play yet (${this.job.status}).`;
      return;
    }
    if (!this.#url("hls")) this.format = "dash";
    await this.updateComplete;
    try {
      const shaka = await loadShaka();
      if (!shaka.Player.isBrowserSupported()) throw new Error("this browser cannot play adaptive streams");
      this.player = new shaka.Player();
      this.player.addEventListener("error", (event) => this.#failed(event.detail));
      this.player.addEventListener("trackschanged", () => this.#tracks());
      await this.player.attach(this.#video());
      await this.#load();
    } catch (error) {
      this.#failed(error);
    }
  }

  disconnectedCallback() {
    this.player?.destroy();
    this.player = null;
    super.disconnectedCallback();
  }

  #video() {
    return this.querySelector("#player-video");
  }

  #url(format) {
    const outputs = this.job?.outputs ?? {};
    return format === "dash" ? outputs.dash_url : outputs.playback_url || this.job?.playable_url;
  }

  #storyboardUrl() {
    const file = (this.job?.outputs?.files ?? []).find((f) => f.key.endsWith("/storyboard.vtt"));
    return file ? outputUrl(this.job, file) : null;
  }

  async #load() {
    const video = this.#video();
    const at = video.currentTime || 0;
    this.error = null;
    this.preview = null;
    await this.player.load(this.#url(this.format), at);
    this.quality = "auto";
    this.player.configure("abr.enabled", true);
    this.#tracks();
    const storyboard = this.#storyboardUrl();
    this.thumbnails = null;
    if (storyboard) {
      try {
        this.thumbnails = await this.player.addThumbnailsTrack(storyboard, "text/vtt");
      } catch (error) {
        console.warn("storyboard:", error);
      }
    }
    video.play().catch(() => undefined); // muted: browsers let it start; else the user presses play
  }

  #failed(error) {
    const code = error?.code ? ` (Shaka error ${error.code})` : "";
    this.error = `The video could not be played${code}: ${error?.message ?? "see the browser's network panel"}`;
  }

  #tracks() {
    const heights = new Set(this.player.getVariantTracks().map((t) => t.height).filter(Boolean));
    this.heights = [...heights].sort((a, b) => b - a);
  }

  #chooseFormat(event) {
    this.format = event.target.value;
    this.#load().catch((error) => this.#failed(error));
  }

  #chooseQuality(event) {
    this.quality = event.target.value;
    if (this.quality === "auto") {
      this.player.configure("abr.enabled", true);
      return;
    }
    const height = Number(this.quality);
    const track = this.player
      .getVariantTracks()
      .filter((t) => t.height === height)
      .sort((a, b) => b.bandwidth - a.bandwidth)[0];
    this.player.configure("abr.enabled", false);
    if (track) this.player.selectVariantTrack(track, true);
  }

  #seek(event) {
    this.#video().currentTime = Number(event.target.value);
    this.#showPreview(Number(event.target.value), event.target);
  }

  #hover(event) {
    const bar = event.currentTarget;
    const box = bar.getBoundingClientRect();
    const ratio = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
    this.#showPreview(ratio * this.duration, bar);
  }

  async #showPreview(time, bar) {
    if (!this.thumbnails || !this.duration) return;
    const thumb = await this.player.getThumbnails(this.thumbnails.id, time);
    if (!thumb) return;
    const box = bar.getBoundingClientRect();
    const left = Math.min(Math.max(0, (time / this.duration) * box.width - thumb.width / 2), box.width - thumb.width);
    this.preview = {
      time,
      style: [
        `left: ${Math.max(0, left)}px`,
        `width: ${thumb.width}px`,
        `height: ${thumb.height}px`,
        `background-image: url("${thumb.uris[0]}")`,
        `background-position: -${thumb.positionX}px -${thumb.positionY}px`,
      ].join("; "),
    };
  }

  render() {
    const job = this.job;
    return html`
      <h1 tabindex="-1">${job ? `Play ${jobName(job)}` : "Player"}</h1>
      ${this.error ? html`<p role="alert" class="error">${this.error}</p>` : nothing}
      ${job && (this.#url("hls") || this.#url("dash"))
        ? html`
            <div class="player">
              <video id="player-video" controls muted .muted=${true} playsinline aria-label="Video of ${jobName(job)}"
                @timeupdate=${(e) => {
                  this.time = e.target.currentTime;
                }}
                @durationchange=${(e) => {
                  this.duration = Number.isFinite(e.target.duration) ? e.target.duration : 0;
                }}></video>
              <div class="seek">
                <label for="seek" class="visually-hidden">Seek</label>
                <input id="seek" type="range" min="0" max=${this.duration || 0} step="0.1" .value=${String(this.time)}
                  aria-valuetext="${clock(this.time)} of ${clock(this.duration)}"
                  @input=${this.#seek}
                  @pointermove=${this.#hover}
                  @pointerleave=${() => {
                    this.preview = null;
                  }}
                  @focus=${(e) => this.#showPreview(Number(e.target.value), e.target)}
                  @blur=${() => {
                    this.preview = null;
                  }} />
                <div class="storyboard-preview" ?hidden=${!this.preview} style=${this.preview?.style ?? ""}
                  aria-hidden="true"><span>${clock(this.preview?.time)}</span></div>
                <span class="help">${clock(this.time)} / ${clock(this.duration)}</span>
              </div>
            </div>
            <div class="fields">
              <fieldset role="radiogroup" class="formats">
                <legend>Format</legend>
                ${[
                  ["hls", "HLS"],
                  ["dash", "DASH"],
                ].map(
                  ([value, label]) => html`<label class="inline">
                    <input type="radio" name="format" value=${value} .checked=${this.format === value}
                      ?disabled=${!this.#url(value)} @change=${this.#chooseFormat} />${label}</label>`,
                )}
              </fieldset>
              <div>
                <label for="quality">Quality</label>
                <select id="quality" @change=${this.#chooseQuality}>
                  <option value="auto" ?selected=${this.quality === "auto"}>Auto</option>
                  ${this.heights.map(
                    (h) => html`<option value=${h} ?selected=${this.quality === String(h)}>${h}p</option>`,
                  )}
                </select>
              </div>
            </div>
            <p class="help">
              <a href="#/jobs/${job.job_id}">Details</a> ·
              <span>${this.format === "dash" ? "DASH" : "HLS"}: <code>${this.#url(this.format)}</code></span>
            </p>
          `
        : nothing}
    `;
  }
}

customElements.define("vodpipe-player-page", PlayerPage);
