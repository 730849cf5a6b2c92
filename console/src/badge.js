// <vodpipe-status job="ID" api="API_URL" token="TOKEN" hide-on-complete>: a job's status, updating by itself.
// Standalone (dist/vodpipe-status.js, one script tag in any page); the token falls back to the console's session.
import { css, html, LitElement } from "lit";
import { ApiClient, storedToken } from "./api.js";

const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
const LABELS = {
  UPLOADING: "Uploading",
  QUEUED: "Queued",
  PROCESSING: "Processing",
  COMPLETED: "Completed",
  FAILED: "Failed",
  CANCELLED: "Cancelled",
};

export class VodpipeStatus extends LitElement {
  static properties = {
    job: { reflect: true },
    api: { reflect: true },
    token: {},
    interval: { type: Number }, // seconds between polls while the job moves
    hideOnComplete: { type: Boolean, attribute: "hide-on-complete" },
    status: { reflect: true },
    progress: { state: true },
    problem: { state: true },
  };

  static styles = css`
    :host {
      display: inline-block;
      font: 500 0.875rem/1.2 system-ui, sans-serif;
    }
    :host([hidden]) {
      display: none;
    }
    .badge {
      display: inline-flex;
      align-items: center;
      gap: 0.4em;
      padding: 0.2em 0.65em;
      border-radius: 999px;
      background: #e8eaed;
      color: #202124;
    }
    .dot {
      width: 0.55em;
      height: 0.55em;
      border-radius: 50%;
      background: currentColor;
    }
    :host([status="QUEUED"]) .badge { background: #fef7e0; color: #7a4f01; }
    :host([status="PROCESSING"]) .badge { background: #e8f0fe; color: #174ea6; }
    :host([status="COMPLETED"]) .badge { background: #e6f4ea; color: #0d652d; }
    :host([status="FAILED"]) .badge { background: #fce8e6; color: #a50e0e; }
    :host([status="CANCELLED"]) .badge { background: #f1f3f4; color: #3c4043; }
  `;

  constructor() {
    super();
    this.interval = 2;
    this.hideOnComplete = false;
    this.progress = null;
    this.problem = null;
    this.etag = null;
  }

  connectedCallback() {
    super.connectedCallback();
    this.#schedule(0);
  }

  disconnectedCallback() {
    clearTimeout(this.timer);
    super.disconnectedCallback();
  }

  updated(changed) {
    if ((changed.has("job") && changed.get("job") !== undefined) || (changed.has("api") && changed.get("api") !== undefined)) {
      this.etag = null;
      this.#schedule(0);
    }
  }

  #schedule(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.#poll(), ms);
  }

  async #poll() {
    if (!this.isConnected || !this.job || !this.api) return;
    const client = new ApiClient(this.api, () => this.token || storedToken());
    let delay = this.interval * 1000;
    try {
      const answer = await client.getJob(this.job, { etag: this.etag });
      if (answer.status !== 304) {
        this.etag = answer.etag;
        this.#show(answer.data);
      }
      this.problem = null;
    } catch (error) {
      this.problem = error.status === 404 ? "Unknown job" : error.status === 401 ? "Not signed in" : "Status unavailable";
      delay = Math.max(delay, 10_000);
    }
    if (TERMINAL.has(this.status)) {
      if (this.status === "COMPLETED" && this.hideOnComplete) return; // done: nothing more to show
      delay = Math.max(delay, 30_000); // a failed or cancelled job may still be retried
    }
    this.#schedule(delay);
  }

  #show(job) {
    const before = this.status;
    this.status = job.status;
    this.progress = job.progress ?? null;
    if (job.status === "COMPLETED" && this.hideOnComplete) this.hidden = true;
    if (before !== job.status || this.lastProgress !== job.progress) {
      this.lastProgress = job.progress;
      this.dispatchEvent(
        new CustomEvent("vodpipe-status-change", { detail: { job }, bubbles: true, composed: true }),
      );
    }
  }

  get text() {
    if (this.problem) return this.problem;
    if (!this.status) return "Loading…";
    const label = LABELS[this.status] ?? this.status;
    return this.status === "PROCESSING" && this.progress != null ? `${label} ${this.progress}%` : label;
  }

  render() {
    return html`<span class="badge" part="badge" role="status"><span class="dot" aria-hidden="true"></span>${this.text}</span>`;
  }
}

if (!customElements.get("vodpipe-status")) customElements.define("vodpipe-status", VodpipeStatus);
