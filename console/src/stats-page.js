// Queue statistics over a window: counts by status and priority class, processing and wait times; a chart and a table.
import { html, nothing } from "lit";
import { api } from "./api.js";
import { LightElement, signedOut } from "./app.js";
import { formatDuration, formatPercent } from "./format.js";
import { STATUSES } from "./jobs-page.js";

const WINDOWS = [
  [1, "Last hour"],
  [24, "Last 24 hours"],
  [168, "Last 7 days"],
  [720, "Last 30 days"],
];
const CLASSES = ["high", "normal", "bulk"];
const ALL_STATUSES = ["UPLOADING", ...STATUSES];
const COLORS = { high: "#c5221f", normal: "#1a73e8", bulk: "#5f6368" };

async function loadChart() {
  return (await import("./chart.js")).Chart;
}

class StatsPage extends LightElement {
  static properties = { hours: { state: true }, stats: { state: true }, error: { state: true } };

  constructor() {
    super();
    this.hours = 24;
    this.stats = null;
    this.error = null;
    this.charts = [];
  }

  connectedCallback() {
    super.connectedCallback();
    this.#load();
  }

  disconnectedCallback() {
    clearTimeout(this.timer);
    for (const chart of this.charts) chart.destroy();
    this.charts = [];
    super.disconnectedCallback();
  }

  async #load() {
    clearTimeout(this.timer);
    try {
      this.stats = await api().stats(this.hours);
      this.error = null;
      await this.updateComplete;
      await this.#draw();
    } catch (error) {
      if (error.status === 401) return signedOut();
      this.error = `Statistics could not be loaded: ${error.message}`;
    }
    if (this.isConnected) this.timer = setTimeout(() => this.#load(), 30_000);
  }

  async #draw() {
    const Chart = await loadChart();
    const s = this.stats;
    const statusCounts = ALL_STATUSES.map((status) => s.by_status?.[status] ?? 0);
    const classCounts = CLASSES.map((c) => s.by_priority_class?.[c] ?? 0);
    const times = [s.mean_queue_wait_seconds, s.mean_processing_seconds, s.p95_processing_seconds].map((v) => v ?? 0);
    const specs = [
      ["#chart-status", ALL_STATUSES, [{ label: "Jobs", data: statusCounts, backgroundColor: "#1a73e8" }]],
      ["#chart-class", CLASSES, [{ label: "Jobs", data: classCounts, backgroundColor: CLASSES.map((c) => COLORS[c]) }]],
      ["#chart-times", ["Mean wait", "Mean processing", "p95 processing"], [{ label: "Seconds", data: times, backgroundColor: "#188038" }]],
    ];
    specs.forEach(([selector, labels, datasets], i) => {
      const chart = this.charts[i];
      if (chart) {
        chart.data.labels = labels;
        chart.data.datasets = datasets;
        chart.update();
        return;
      }
      this.charts[i] = new Chart(this.querySelector(selector), {
        type: "bar",
        data: { labels, datasets },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          plugins: { legend: { display: false } },
          scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        },
      });
    });
  }

  #window(event) {
    this.hours = Number(event.target.value);
    this.#load();
  }

  render() {
    const s = this.stats;
    const statusText = s ? ALL_STATUSES.map((st) => `${st} ${s.by_status?.[st] ?? 0}`).join(", ") : "";
    const classText = s ? CLASSES.map((c) => `${c} ${s.by_priority_class?.[c] ?? 0}`).join(", ") : "";
    return html`
      <h1 tabindex="-1">Queue statistics</h1>
      <div class="fields">
        <div>
          <label for="window">Window</label>
          <select id="window" @change=${this.#window}>
            ${WINDOWS.map(([h, label]) => html`<option value=${h} ?selected=${h === this.hours}>${label}</option>`)}
          </select>
        </div>
      </div>
      ${this.error ? html`<p role="alert" class="error">${this.error}</p>` : nothing}
      ${s
        ? html`
            <p>${s.jobs} jobs in the window; success rate ${formatPercent(s.success_rate)}.</p>
            <div class="charts">
              <figure class="card">
                <figcaption>Jobs by status</figcaption>
                <div class="chart"><canvas id="chart-status" role="img" aria-label="Jobs by status: ${statusText}"></canvas></div>
              </figure>
              <figure class="card">
                <figcaption>Jobs by priority class</figcaption>
                <div class="chart"><canvas id="chart-class" role="img" aria-label="Jobs by priority class: ${classText}"></canvas></div>
              </figure>
              <figure class="card">
                <figcaption>Wait and processing times (seconds)</figcaption>
                <div class="chart"><canvas id="chart-times" role="img"
                  aria-label="Mean queue wait ${formatDuration(s.mean_queue_wait_seconds)}, mean processing ${formatDuration(s.mean_processing_seconds)}, p95 processing ${formatDuration(s.p95_processing_seconds)}"></canvas></div>
              </figure>
            </div>
            <div class="table-wrap">
              <table class="stats">
                <caption>The same numbers</caption>
                <thead><tr><th scope="col">Measure</th><th scope="col">Value</th></tr></thead>
                <tbody>
                  <tr><th scope="row">Jobs</th><td>${s.jobs}</td></tr>
                  ${ALL_STATUSES.map((st) => html`<tr><th scope="row">${st}</th><td>${s.by_status?.[st] ?? 0}</td></tr>`)}
                  ${CLASSES.map((c) => html`<tr><th scope="row">Priority ${c}</th><td>${s.by_priority_class?.[c] ?? 0}</td></tr>`)}
                  <tr><th scope="row">Mean queue wait</th><td>${formatDuration(s.mean_queue_wait_seconds)}</td></tr>
                  <tr><th scope="row">Mean processing</th><td>${formatDuration(s.mean_processing_seconds)}</td></tr>
                  <tr><th scope="row">p95 processing</th><td>${formatDuration(s.p95_processing_seconds)}</td></tr>
                  <tr><th scope="row">Success rate</th><td>${formatPercent(s.success_rate)}</td></tr>
                </tbody>
              </table>
            </div>
          `
        : this.error
          ? nothing
          : html`<p>Loading…</p>`}
    `;
  }
}

customElements.define("vodpipe-stats-page", StatsPage);
