// The shell: hash routes (#/sign-in, #/upload, #/jobs, #/jobs/<id>, #/play/<id>, #/stats), the nav, sign-out.
import { html, LitElement } from "lit";
import { loadClient, storedToken, storeToken } from "./api.js";

const ROUTES = [
  [/^#\/sign-in$/, () => html`<vodpipe-sign-in></vodpipe-sign-in>`],
  [/^#\/upload$/, () => html`<vodpipe-upload-page></vodpipe-upload-page>`],
  [/^#\/jobs$/, () => html`<vodpipe-jobs-page></vodpipe-jobs-page>`],
  [/^#\/jobs\/([0-9A-Za-z]+)$/, (id) => html`<vodpipe-job-detail .jobId=${id}></vodpipe-job-detail>`],
  [/^#\/play\/([0-9A-Za-z]+)$/, (id) => html`<vodpipe-player-page .jobId=${id}></vodpipe-player-page>`],
  [/^#\/stats$/, () => html`<vodpipe-stats-page></vodpipe-stats-page>`],
];

const NAV = [
  ["#/upload", "Upload"],
  ["#/jobs", "Jobs"],
  ["#/stats", "Statistics"],
];

/** Pages render into the light DOM so that console.css, labels and the tests see one document. */
export class LightElement extends LitElement {
  createRenderRoot() {
    return this;
  }
}

export function navigate(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

/** A page calls this on a 401: the token is no longer good. */
export function signedOut() {
  storeToken(null);
  navigate("#/sign-in");
}

class VodpipeApp extends LightElement {
  static properties = { route: { state: true }, error: { state: true }, ready: { state: true } };

  constructor() {
    super();
    this.route = location.hash;
    this.ready = false;
    this.error = null;
    this.onHash = () => this.#route();
  }

  async connectedCallback() {
    super.connectedCallback();
    window.addEventListener("hashchange", this.onHash);
    try {
      await loadClient();
      this.ready = true;
      this.#route();
    } catch (error) {
      this.error = `The console could not start: ${error.message}`;
    }
  }

  disconnectedCallback() {
    window.removeEventListener("hashchange", this.onHash);
    super.disconnectedCallback();
  }

  #route() {
    const hash = location.hash || "#/upload";
    if (!storedToken() && hash !== "#/sign-in") {
      sessionStorage.setItem("vodpipe.after-sign-in", hash);
      history.replaceState(null, "", "#/sign-in");
      this.route = "#/sign-in";
    } else if (!ROUTES.some(([pattern]) => pattern.test(hash))) {
      history.replaceState(null, "", "#/upload");
      this.route = "#/upload";
    } else {
      this.route = hash;
    }
  }

  updated(changed) {
    // Move focus to the new page's heading, as a page load would for a screen reader.
    if (changed.has("route") && changed.get("route") !== undefined) {
      requestAnimationFrame(() => this.querySelector("main h1")?.focus());
    }
  }

  #signOut() {
    storeToken(null);
    navigate("#/sign-in");
  }

  render() {
    const signedIn = Boolean(storedToken());
    const current = this.route.replace(/^(#\/[a-z-]+).*$/, "$1");
    let page = html``;
    if (this.ready) {
      for (const [pattern, view] of ROUTES) {
        const match = pattern.exec(this.route);
        if (match) page = view(...match.slice(1));
      }
    }
    return html`
      <a class="skip" href="#main" @click=${(e) => this.#skip(e)}>Skip to content</a>
      <header class="top">
        <span class="brand">vodpipe</span>
        <nav aria-label="Main">
          <ul>
            ${NAV.map(
              ([href, label]) => html`<li>
                <a href=${href} aria-current=${current === href ? "page" : "false"}>${label}</a>
              </li>`,
            )}
          </ul>
          ${signedIn ? html`<button type="button" class="quiet" @click=${this.#signOut}>Sign out</button>` : ""}
        </nav>
      </header>
      <main id="main" tabindex="-1">
        ${this.error ? html`<h1>vodpipe</h1><p role="alert" class="error">${this.error}</p>` : page}
      </main>
    `;
  }

  #skip(event) {
    event.preventDefault(); // the hash is the router's
    this.querySelector("main h1")?.focus();
  }
}

customElements.define("vodpipe-app", VodpipeApp);
