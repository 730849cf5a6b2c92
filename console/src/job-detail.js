// One job: its state and renditions (live), the event log, its outputs with copyable URLs, and downloads.
import { html, nothing } from "lit";
import { api, outputUrl } from "./api.js";
import { LightElement, signedOut } from "./app.js";
import { formatBytes, formatDuration, formatTime } from "./format.js";
import { jobName, progressBar } from "./jobs-page.js";

const ACTIVE = new Set(["UPLOADING", "QUEUED", "PROCESSING"]);
const POLL_MS = 2000;

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard permission (an insecure origin): select the text for the user to copy.
    const field = button.parentElement.querySelector("input");
    field?.select();
  }
  button.textContent = "Copied";
  setTimeout(() => {
    button.textContent = "Copy";
  }, 1500);
}

function urlRow(label, url) {
  const id = `url-${label.replace(/\W+/g, "-").toLowerCase()}`;
  return html`<div class="url-row">
    <label for=${id} id="${id}-label">${label}</label>
    <div class="url-field">
      <input id=${id} type="text" readonly .value=${url} @focus=${(e) => e.target.select()} />
      <button type="button" aria-describedby="${id}-label" @click=${(e) => copy(url, e.currentTarget)}>Copy</button>
    </div>
  </div>`;
}

class JobDetail extends LightElement {
  static properties = {
    jobId: {},
    job: { state: true },
    events: { state: true },
    downloads: { state: true },
    error: { state: true },
  };

  constructor() {
    super();
    this.job = null;
    this.events = [];
    this.downloads = [];
    this.error = null;
    this.etag = null;
  }

  connectedCallback() {
    super.connectedCallback();
    this.#poll();
  }

  disconnectedCallback() {
    clearTimeout(this.timer);
    super.disconnectedCallback();
  }

  async #poll() {
    clearTimeout(this.timer);
    const id = this.jobId;
    try {
      const answer = await api().getJob(id, { etag: this.etag });
      if (answer.status !== 304 || !this.job) {
        this.job = answer.data;
        this.etag = answer.etag;
        this.events = (await api().jobEvents(id)).events;
        if (this.job.status === "COMPLETED") this.downloads = (await api().downloads(id)).downloads;
      }
      this.error = null;
    } catch (error) {
      if (error.status === 401) return signedOut();
      this.error = error.status === 404 ? "There is no such job." : `The job could not be loaded: ${error.message}`;
      if (error.status === 404) return;
    }
    if (this.isConnected && id === this.jobId) {
      this.timer = setTimeout(() => this.#poll(), ACTIVE.has(this.job?.status) ? POLL_MS : POLL_MS * 5);
    }
  }

  async #download(entry, button) {
    button.disabled = true;
    try {
      const link = await api().download(this.jobId, entry.name);
      const a = document.createElement("a");
      a.href = link.url;
      a.download = link.file_name;
      a.rel = "noopener";
      document.body.append(a);
      a.click();
      a.remove();
    } catch (error) {
      this.error = `${entry.file_name}: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  }

  render() {
    const job = this.job;
    if (!job) {
      return html`<h1 tabindex="-1">Job ${this.jobId}</h1>
        ${this.error ? html`<p role="alert" class="error">${this.error}</p>` : html`<p>Loading…</p>`}`;
    }
    const outputs = job.outputs ?? {};
    const renditions = Object.entries(job.rendition_progress ?? {});
    const files = (outputs.files ?? [])
      .filter((f) => f.kind !== "hls" && f.kind !== "dash")
      .map((f) => ({ ...f, url: outputUrl(job, f) }))
      .filter((f) => f.url);
    return html`
      <h1 tabindex="-1">${jobName(job)}</h1>
      ${this.error ? html`<p role="alert" class="error">${this.error}</p>` : nothing}
      <section class="card" aria-labelledby="state-heading">
        <h2 id="state-heading">State</h2>
        <p><vodpipe-status .job=${job.job_id} .api=${api().baseUrl}></vodpipe-status></p>
        ${progressBar("Job progress", job.progress)}
        <dl class="facts">
          <dt>Job</dt><dd><code>${job.job_id}</code></dd>
          <dt>Status</dt><dd data-status=${job.status}>${job.status}</dd>
          <dt>Step</dt><dd>${job.current_step ?? "–"}</dd>
          <dt>Priority</dt><dd>${job.priority}</dd>
          <dt>Preset</dt><dd>${job.preset?.name ?? "web"}</dd>
          <dt>Created</dt><dd>${formatTime(job.created_at)}</dd>
          ${job.queue_position != null ? html`<dt>Place in queue</dt><dd>${job.queue_position + 1}</dd>` : nothing}
          ${job.completed_at ? html`<dt>Completed</dt><dd>${formatTime(job.completed_at)}</dd>` : nothing}
          ${job.source_duration_s ? html`<dt>Duration</dt><dd>${formatDuration(job.source_duration_s)}</dd>` : nothing}
          <dt>Attempts</dt><dd>${job.retry_count + 1} of ${job.max_retries + 1}</dd>
        </dl>
        ${job.error_message ? html`<p class="error">${job.error_message}</p>` : nothing}
        ${renditions.length
          ? html`<h3>Renditions</h3>
              <ul class="renditions-list">
                ${renditions.map(([name, p]) => html`<li><span>${name}</span>${progressBar(`${name} progress`, p)}</li>`)}
              </ul>`
          : nothing}
        ${job.status === "COMPLETED" ? html`<p><a href="#/play/${job.job_id}">Play</a></p>` : nothing}
      </section>
      <section class="card" aria-labelledby="outputs-heading">
        <h2 id="outputs-heading">Outputs</h2>
        ${outputs.playback_url || outputs.dash_url || files.length
          ? html`
              ${outputs.playback_url ? urlRow("HLS playback URL", outputs.playback_url) : nothing}
              ${outputs.dash_url ? urlRow("DASH playback URL", outputs.dash_url) : nothing}
              ${files.length
                ? html`<details><summary>Other files (${files.length})</summary>
                    ${files.map((f) => urlRow(f.key.split("/").slice(-2).join("/"), f.url))}
                  </details>`
                : nothing}`
          : html`<p class="help">No outputs yet.</p>`}
      </section>
      <section class="card" aria-labelledby="downloads-heading">
        <h2 id="downloads-heading">Downloads</h2>
        ${this.downloads.length
          ? html`<ul class="downloads">
              ${this.downloads.map(
                (d) => html`<li><button type="button" @click=${(e) => this.#download(d, e.currentTarget)}>
                    Download ${d.file_name}</button> <span class="help">${formatBytes(d.size_bytes)}</span></li>`,
              )}
            </ul>`
          : html`<p class="help">${job.status === "COMPLETED" ? "No downloads for this job." : "Downloads appear when the job is completed."}</p>`}
      </section>
      <section class="card" aria-labelledby="events-heading">
        <h2 id="events-heading">Event log</h2>
        <ol class="events" aria-labelledby="events-heading">
          ${this.events.map(
            (e) => html`<li class="event ${e.kind}">
              <time datetime=${e.time}>${formatTime(e.time)}</time>
              <span class="step">${e.step}</span> <span class="kind">${e.kind}</span>
              ${e.message ? html`<span class="message">${e.message}</span>` : nothing}
            </li>`,
          )}
        </ol>
      </section>
    `;
  }
}

customElements.define("vodpipe-job-detail", JobDetail);
