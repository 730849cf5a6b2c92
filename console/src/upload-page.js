// Upload: choose or drop videos; each is checked by the API first, then sent in parts with pause, resume, cancel.
import { html, nothing } from "lit";
import { api } from "./api.js";
import { LightElement, signedOut } from "./app.js";
import { formatBytes, formatEta, formatSpeed } from "./format.js";

let uploads = null; // one list per tab: leaving the page keeps uploads going

const STATE_TEXT = {
  checking: "Checking…",
  uploading: "Uploading",
  paused: "Paused",
  completing: "Finishing…",
  done: "Uploaded",
  failed: "Failed",
  cancelled: "Cancelled",
  interrupted: "Interrupted: choose this file again to resume",
};

class UploadPage extends LightElement {
  static properties = {
    items: { state: true },
    presets: { state: true },
    presetError: { state: true },
    dragging: { state: true },
  };

  constructor() {
    super();
    this.items = [];
    this.presets = [];
    this.presetError = null;
    this.dragging = false;
    this.onChange = () => {
      this.items = uploads.items;
    };
  }

  async connectedCallback() {
    super.connectedCallback();
    this.#loadPresets();
    if (!uploads) {
      // Uppy loads with this page, not with the console.
      const { Uploads } = await import("./uploader.js");
      uploads ??= new Uploads(api());
      uploads.restorePending();
    }
    if (!this.isConnected) return;
    uploads.addEventListener("change", this.onChange);
    this.items = uploads.items;
  }

  disconnectedCallback() {
    uploads?.removeEventListener("change", this.onChange);
    super.disconnectedCallback();
  }

  async #loadPresets() {
    try {
      this.presets = (await api().presets()).presets;
    } catch (error) {
      if (error.status === 401) return signedOut();
      this.presetError = `Presets could not be loaded: ${error.message}`;
    }
  }

  #add(files) {
    if (!uploads) return;
    const priority = Number(this.querySelector("#priority").value);
    const preset = this.querySelector("#preset").value || null;
    for (const file of files) uploads.add(file, { priority, preset });
  }

  #chosen(event) {
    this.#add([...event.target.files]);
    event.target.value = ""; // choosing the same file again must fire change again
  }

  #drop(event) {
    event.preventDefault();
    this.dragging = false;
    this.#add([...(event.dataTransfer?.files ?? [])]);
  }

  #resume(item) {
    if (!uploads.resume(item.id)) this.querySelector("#files").click(); // interrupted: its file is needed again
  }

  render() {
    return html`
      <h1 tabindex="-1">Upload videos</h1>
      <section class="card" aria-label="Choose files">
        <div class="fields">
          <div>
            <label for="priority">Priority</label>
            <select id="priority" aria-describedby="priority-help">
              ${[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => html`<option value=${n} ?selected=${n === 5}>${n}</option>`)}
            </select>
            <p id="priority-help" class="help">1–3 high, 4–7 normal, 8–10 bulk.</p>
          </div>
          <div>
            <label for="preset">Preset</label>
            <select id="preset">
              ${this.presets.length
                ? this.presets.map((p) => html`<option value=${p.name} title=${p.description}>${p.name}</option>`)
                : html`<option value="">web</option>`}
            </select>
          </div>
        </div>
        ${this.presetError ? html`<p role="alert" class="error">${this.presetError}</p>` : nothing}
        <div
          class="dropzone ${this.dragging ? "dragging" : ""}"
          @dragover=${(e) => {
            e.preventDefault();
            this.dragging = true;
          }}
          @dragleave=${() => {
            this.dragging = false;
          }}
          @drop=${this.#drop}
        >
          <label for="files">Choose videos</label>
          <input id="files" type="file" multiple @change=${this.#chosen} aria-describedby="drop-help" />
          <p id="drop-help" class="help">or drop them here. Each file is checked before any byte is sent.</p>
        </div>
      </section>
      <section aria-labelledby="uploads-heading">
        <h2 id="uploads-heading">Uploads</h2>
        ${this.items.length ? nothing : html`<p class="help">Nothing uploading yet.</p>`}
        <ul class="uploads">
          ${this.items.map((item) => this.#item(item))}
        </ul>
      </section>
    `;
  }

  #item(item) {
    const percent = item.size ? Math.floor((100 * item.bytesUploaded) / item.size) : 0;
    const live = item.state === "uploading";
    const finished = ["done", "cancelled", "refused"].includes(item.state);
    const line = live
      ? [
          `${formatBytes(item.bytesUploaded)} of ${formatBytes(item.size)}`,
          formatSpeed(item.speed),
          formatEta(item.size - item.bytesUploaded, item.speed),
        ]
          .filter(Boolean)
          .join(" · ")
      : `${formatBytes(item.bytesUploaded)} of ${formatBytes(item.size)}`;
    return html`
      <li class="upload ${item.state}" data-file=${item.name} data-job-id=${item.jobId ?? nothing}
        data-state=${item.state} data-parts-done=${item.partsDone ?? 0} data-part-count=${item.partCount ?? nothing}>
        <div class="upload-head">
          <span class="name">${item.name}</span>
          <span class="state">${item.state === "refused" ? "Refused" : STATE_TEXT[item.state]}</span>
        </div>
        ${item.state === "refused"
          ? nothing
          : html`<div class="bar" role="progressbar" aria-label="${item.name} progress" aria-valuemin="0"
                aria-valuemax="100" aria-valuenow=${percent} aria-valuetext="${percent}%">
                <span style="width: ${percent}%"></span>
              </div>
              <p class="help">${line}</p>`}
        ${item.error ? html`<p role="alert" class="error">${item.error}</p>` : nothing}
        ${finished
          ? nothing
          : html`<div class="actions">
              <button type="button" ?disabled=${item.state !== "uploading"} @click=${() => uploads.pause(item.id)}>
                Pause
              </button>
              <button type="button" ?disabled=${!["paused", "failed", "interrupted"].includes(item.state)}
                @click=${() => this.#resume(item)}>Resume</button>
              <button type="button" class="danger" ?disabled=${item.state === "checking"}
                @click=${() => uploads.cancel(item.id)}>Cancel</button>
            </div>`}
        ${item.state === "done" ? html`<a href="#/jobs/${item.jobId}">View job</a>` : nothing}
      </li>
    `;
  }
}

customElements.define("vodpipe-upload-page", UploadPage);
