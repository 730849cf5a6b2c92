// Jobs: a status filter, pages of jobs with live progress, cancel, retry and priority while queued.
import { html, nothing } from "lit";
import { api } from "./api.js";
import { LightElement, signedOut } from "./app.js";
import { formatTime, statusLabel } from "./format.js";

export const STATUSES = ["QUEUED", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED"];
const ACTIVE = new Set(["UPLOADING", "QUEUED", "PROCESSING"]);
const FAST_MS = 2000; // while a job on the page moves
const SLOW_MS = 15000;
const PAGE_SIZE = 20;

export function jobName(job) {
  return job.upload?.file_name || job.job_id;
}

/** A progress bar for a job (or one rendition of it). */
export function progressBar(label, percent) {
  const value = Math.max(0, Math.min(100, Math.round(percent ?? 0)));
  return html`<div class="bar" role="progressbar" aria-label=${label} aria-valuemin="0" aria-valuemax="100"
    aria-valuenow=${value} aria-valuetext="${value}%"><span style="width: ${value}%"></span></div>`;
}

class JobsPage extends LightElement {
  static properties = {
    jobs: { state: true },
    status: { state: true },
    cursors: { state: true },
    nextCursor: { state: true },
    error: { state: true },
    message: { state: true },
    loaded: { state: true },
  };

  constructor() {
    super();
    this.jobs = [];
    this.status = "";
    this.cursors = [null]; // the cursor of each page seen, for "Previous page"
    this.nextCursor = null;
    this.error = null;
    this.message = "";
    this.loaded = false;
    this.timer = null;
  }

  connectedCallback() {
    super.connectedCallback();
    this.#load();
  }

  disconnectedCallback() {
    clearTimeout(this.timer);
    this.abort?.abort();
    super.disconnectedCallback();
  }

  async #load() {
    clearTimeout(this.timer);
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    try {
      const page = await api().listJobs(
        { status: this.status || undefined, limit: PAGE_SIZE, cursor: this.cursors.at(-1) ?? undefined },
        abort.signal,
      );
      this.jobs = page.jobs;
      this.nextCursor = page.next_cursor ?? null;
      this.error = null;
      this.loaded = true;
    } catch (error) {
      if (error.name === "AbortError") return;
      if (error.status === 401) return signedOut();
      this.error = `Jobs could not be loaded: ${error.message}`;
    }
    if (this.isConnected && this.abort === abort) {
      const moving = this.jobs.some((job) => ACTIVE.has(job.status));
      this.timer = setTimeout(() => this.#load(), moving ? FAST_MS : SLOW_MS);
    }
  }

  #filter(event) {
    this.status = event.target.value;
    this.cursors = [null];
    this.#load();
  }

  #page(delta) {
    this.cursors = delta > 0 ? [...this.cursors, this.nextCursor] : this.cursors.slice(0, -1);
    this.#load();
    this.querySelector("h1")?.focus();
  }

  async #act(job, what, call) {
    try {
      const after = await call();
      this.message = `${jobName(job)}: ${what} (${statusLabel(after.status)}).`;
      this.error = null;
    } catch (error) {
      if (error.status === 401) return signedOut();
      this.error = `${jobName(job)}: ${error.message}`;
    }
    this.#load();
  }

  render() {
    return html`
      <h1 tabindex="-1">Jobs</h1>
      <div class="fields">
        <div>
          <label for="status-filter">Status</label>
          <select id="status-filter" @change=${this.#filter}>
            <option value="" ?selected=${!this.status}>All</option>
            ${STATUSES.map((s) => html`<option value=${s} ?selected=${this.status === s}>${s}</option>`)}
          </select>
        </div>
      </div>
      ${this.error ? html`<p role="alert" class="error">${this.error}</p>` : nothing}
      <p role="status" class="help">${this.message}</p>
      ${this.loaded && !this.jobs.length ? html`<p>No jobs${this.status ? ` with status ${this.status}` : ""}.</p>` : nothing}
      <div class="table-wrap">
        <table class="jobs">
          <caption class="visually-hidden">Your jobs, newest first</caption>
          <thead>
            <tr><th scope="col">Video</th><th scope="col">Status</th><th scope="col">Progress</th>
              <th scope="col">Priority</th><th scope="col">Created</th><th scope="col">Actions</th></tr>
          </thead>
          <tbody>
            ${this.jobs.map((job) => this.#row(job))}
          </tbody>
        </table>
      </div>
      <div class="actions">
        <button type="button" ?disabled=${this.cursors.length < 2} @click=${() => this.#page(-1)}>Previous page</button>
        <button type="button" ?disabled=${!this.nextCursor} @click=${() => this.#page(1)}>Next page</button>
      </div>
    `;
  }

  #row(job) {
    const name = jobName(job);
    const renditions = Object.entries(job.rendition_progress ?? {});
    const cancellable = ACTIVE.has(job.status);
    const retryable = (job.status === "FAILED" || job.status === "CANCELLED") && job.retry_count < job.max_retries;
    return html`
      <tr data-job-id=${job.job_id} data-status=${job.status ?? nothing}>
        <th scope="row"><span class="name">${name}</span><br /><code class="id">${job.job_id}</code></th>
        <td><span class="status status-${(job.status ?? "").toLowerCase()}">${job.status}</span>
          ${job.error_message ? html`<br /><span class="error">${job.error_message}</span>` : nothing}</td>
        <td>
          ${progressBar(`${name} progress`, job.progress)}
          <span class="help">${job.progress ?? 0}%${job.current_step ? ` · ${job.current_step}` : ""}</span>
          ${renditions.length
            ? html`<span class="help renditions">${renditions.map(([r, p]) => `${r} ${p}%`).join(" · ")}</span>`
            : nothing}
        </td>
        <td>
          ${job.status === "QUEUED" || job.status === "UPLOADING"
            ? html`<label class="visually-hidden" for="priority-${job.job_id}">Priority</label>
                <select id="priority-${job.job_id}"
                  @change=${(e) => this.#act(job, `priority ${e.target.value}`, () => api().setPriority(job.job_id, Number(e.target.value)))}>
                  ${[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => html`<option value=${n} ?selected=${n === job.priority}>${n}</option>`)}
                </select>`
            : job.priority}
        </td>
        <td>${formatTime(job.created_at)}</td>
        <td class="actions">
          <a href="#/jobs/${job.job_id}">Details</a>
          ${job.status === "COMPLETED" ? html`<a href="#/play/${job.job_id}">Play</a>` : nothing}
          ${cancellable
            ? html`<button type="button" class="danger"
                @click=${() => this.#act(job, "cancelled", () => api().cancelJob(job.job_id))}>Cancel</button>`
            : nothing}
          ${retryable
            ? html`<button type="button" @click=${() => this.#act(job, "retried", () => api().retryJob(job.job_id))}>
                Retry</button>`
            : nothing}
        </td>
      </tr>
    `;
  }
}

customElements.define("vodpipe-jobs-page", JobsPage);
