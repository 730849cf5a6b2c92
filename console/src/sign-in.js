// Sign-in: the API token is checked with one request and kept in session storage, never in a URL.
import { html, nothing } from "lit";
import { ApiClient, api, storeToken } from "./api.js";
import { LightElement, navigate } from "./app.js";

class SignIn extends LightElement {
  static properties = { error: { state: true }, busy: { state: true } };

  async #submit(event) {
    event.preventDefault();
    const token = new FormData(event.target).get("token").trim();
    if (!token) {
      this.error = "Enter your API token.";
      return;
    }
    this.busy = true;
    this.error = null;
    try {
      await new ApiClient(api().baseUrl, token).listJobs({ limit: 1 });
      storeToken(token);
      const after = sessionStorage.getItem("vodpipe.after-sign-in");
      sessionStorage.removeItem("vodpipe.after-sign-in");
      navigate(after && after !== "#/sign-in" ? after : "#/upload");
    } catch (error) {
      this.error = error.status === 401 || error.status === 403 ? "That token was refused" : error.message;
    } finally {
      this.busy = false;
    }
  }

  render() {
    return html`
      <h1 tabindex="-1">Sign in</h1>
      <form class="card narrow" @submit=${this.#submit}>
        <p>Use the API token you were given (the same one the <code>vodpipe</code> command uses).</p>
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required
          aria-describedby=${this.error ? "sign-in-error" : nothing} />
        ${this.error ? html`<p id="sign-in-error" role="alert" class="error">${this.error}</p>` : ""}
        <button type="submit" ?disabled=${this.busy}>Sign in</button>
      </form>
    `;
  }
}

customElements.define("vodpipe-sign-in", SignIn);
