// The only module that talks to the API: base URL from ./config.json, bearer token from session storage.

export const TOKEN_KEY = "vodpipe.token";

/** An API refusal, with the API's own error body ({error, message, field}); status 0: the API was not reached. */
export class ApiError extends Error {
  constructor(status, body = {}) {
    super(body.message || `The API answered ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.error = body.error || (status ? "http_error" : "network_error");
    this.field = body.field ?? null;
  }
}

export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiClient {
  /** `token`: a string, or a function answering one (read on every request). */
  constructor(baseUrl, token = storedToken) {
    this.baseUrl = String(baseUrl).replace(/\/+$/, "");
    this.token = typeof token === "function" ? token : () => token;
  }

  /** Answers {status, data, etag}; a 304 has data null. Throws ApiError on any other non-2xx answer. */
  async request(method, path, { query, body, etag, signal } = {}) {
    const url = new URL(this.baseUrl + path);
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
    }
    const headers = {};
    const token = this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (etag) headers["If-None-Match"] = etag;
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        cache: "no-store",
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, { message: `Could not reach the API (${error.message})` });
    }
    if (response.status === 304) return { status: 304, data: null, etag };
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { message: text.slice(0, 200) };
    }
    if (!response.ok) throw new ApiError(response.status, data ?? {});
    return { status: response.status, data, etag: response.headers.get("ETag") };
  }

  async #json(method, path, options) {
    return (await this.request(method, path, options)).data;
  }

  // uploads
  createUpload(request) {
    return this.#json("POST", "/uploads", { body: request });
  }
  presignParts(jobId, partNumbers, signal) {
    return this.#json("POST", `/uploads/${jobId}/parts`, { body: { part_numbers: partNumbers }, signal });
  }
  listParts(jobId, signal) {
    return this.#json("GET", `/uploads/${jobId}/parts`, { signal });
  }
  completeUpload(jobId, parts, signal) {
    return this.#json("POST", `/uploads/${jobId}/complete`, { body: { parts }, signal });
  }
  cancelUpload(jobId) {
    return this.#json("DELETE", `/uploads/${jobId}`);
  }

  // jobs
  listJobs({ status, limit, cursor } = {}, signal) {
    return this.#json("GET", "/jobs", { query: { status, limit, cursor }, signal });
  }
  /** Answers {status, data, etag}: pass the last etag to get a cheap 304 while nothing changed. */
  getJob(jobId, { etag, signal } = {}) {
    return this.request("GET", `/jobs/${jobId}`, { etag, signal });
  }
  cancelJob(jobId) {
    return this.#json("DELETE", `/jobs/${jobId}`);
  }
  retryJob(jobId) {
    return this.#json("POST", `/jobs/${jobId}/retry`);
  }
  setPriority(jobId, priority) {
    return this.#json("PATCH", `/jobs/${jobId}`, { body: { priority } });
  }
  jobEvents(jobId, signal) {
    return this.#json("GET", `/jobs/${jobId}/events`, { signal });
  }
  downloads(jobId, signal) {
    return this.#json("GET", `/jobs/${jobId}/downloads`, { signal });
  }
  download(jobId, name) {
    return this.#json("GET", `/jobs/${jobId}/downloads/${encodeURIComponent(name)}`);
  }

  // the deployment
  stats(windowHours, signal) {
    return this.#json("GET", "/stats", { query: { window_hours: windowHours }, signal });
  }
  presets(signal) {
    return this.#json("GET", "/presets", { signal });
  }
}

let client = null;

/** Reads ./config.json ({api_url}) beside index.html, once; answers the console's client. */
export async function loadClient() {
  if (client) return client;
  const response = await fetch("./config.json", { cache: "no-cache" });
  if (!response.ok) throw new Error(`config.json could not be read (${response.status})`);
  const { api_url: apiUrl } = await response.json();
  if (!apiUrl) throw new Error("config.json names no api_url");
  client = new ApiClient(apiUrl);
  return client;
}

export function api() {
  if (!client) throw new Error("the API client is not loaded yet (loadClient)");
  return client;
}

/** A job's output file URL, as the API gives it (signed for a private job); null when it has none. */
export function outputUrl(job, file) {
  return file.url ?? null;
}
