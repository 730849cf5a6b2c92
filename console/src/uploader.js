// Uploads through Uppy (@uppy/aws-s3 multipart) against our own /uploads endpoints; no DOM here.
// The server creates each multipart upload (POST /uploads, which also checks the file before any byte is sent) and
// chooses the part size; Uppy cuts the file into those parts, PUTs them in parallel to presigned URLs, pauses,
// resumes and retries. Unfinished uploads are remembered in localStorage so that choosing the same file again after
// a reload resumes it from the parts S3 already has (GET /uploads/{job}/parts).
import AwsS3 from "@uppy/aws-s3";
import Uppy from "@uppy/core";

const PENDING_KEY = "vodpipe.uploads";
const URL_MARGIN_MS = 60_000; // re-sign a part whose URL expires within this
const PRESIGN_BATCH = 100; // POST /uploads/{job}/parts signs at most this many

export function pendingUploads() {
  try {
    const list = JSON.parse(localStorage.getItem(PENDING_KEY) ?? "[]");
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

function savePending(list) {
  if (list.length) localStorage.setItem(PENDING_KEY, JSON.stringify(list));
  else localStorage.removeItem(PENDING_KEY);
}

function remember(entry) {
  savePending([...pendingUploads().filter((e) => e.job_id !== entry.job_id), entry]);
}

function forget(jobId) {
  savePending(pendingUploads().filter((e) => e.job_id !== jobId));
}

const sameFile = (entry, file) =>
  entry.name === file.name && entry.size === file.size && entry.last_modified === file.lastModified;

let nextId = 1;
const ACTIVE = new Set(["checking", "uploading", "paused", "completing"]);

/**
 * The upload list. Items: {id, name, size, jobId, state, bytesUploaded, partsDone, partCount, speed, error}; state:
 * checking, refused, uploading, paused, completing, done, failed, cancelled, interrupted (listed after a reload,
 * waiting for its file). Fires "change" whenever an item changes.
 */
export class Uploads extends EventTarget {
  #client;
  #uppy;
  #items = [];
  #partSizes = new WeakMap(); // File → the server's part size (Uppy asks getChunkSize with the File itself)
  #urls = new Map(); // job id → Map(part number → {url, expires} | {pending})

  constructor(client, { limit = 3 } = {}) {
    super();
    this.#client = client;
    this.#uppy = new Uppy({ id: "vodpipe-uploads", autoProceed: false, allowMultipleUploadBatches: true });
    this.#uppy.use(AwsS3, {
      limit, // parallel requests (parts) across all files: fewer than a 30 MB file has parts, so they finish in turn
      // Always multipart, whatever the size: a file of one part too is created, listed and completed by our API
      // (Uppy then sends it as part 1; it never uses a single-request upload).
      shouldUseMultipart: () => true,
      getChunkSize: (data) => this.#partSizes.get(data),
      createMultipartUpload: (file) => ({ uploadId: file.meta.uploadId, key: file.meta.key }),
      signPart: (file, { partNumber }) => this.#signPart(file, partNumber),
      listParts: async (file, { signal }) => {
        const listed = await this.#client.listParts(file.meta.jobId, signal);
        return listed.parts.map((p) => ({ PartNumber: p.part_number, ETag: p.etag, Size: p.size }));
      },
      completeMultipartUpload: async (file, { parts, signal }) => {
        const etags = parts.map((p) => ({ part_number: p.PartNumber, etag: p.ETag }));
        return { location: "", job: await this.#client.completeUpload(file.meta.jobId, etags, signal) };
      },
      // cancel() abandons the job itself (DELETE /uploads/{job}); an upload that failed stays resumable.
      abortMultipartUpload: () => undefined,
    });
    this.#uppy.on("upload-progress", (file, progress) => this.#onProgress(file, progress));
    this.#uppy.on("upload-success", (file) => this.#onSuccess(file));
    this.#uppy.on("s3-multipart:part-uploaded", (file) => {
      const item = this.#byFile(file?.id);
      if (item) this.#update(item, { partsDone: item.partsDone + 1 });
    });
    this.#uppy.on("upload-error", (file, error) => {
      const item = this.#byFile(file?.id);
      if (item) this.#update(item, { state: "failed", error: describe(error), speed: 0 });
    });
  }

  get items() {
    return this.#items;
  }

  /** List the unfinished uploads of an earlier visit (from localStorage), with what S3 already has of each. */
  async restorePending() {
    const known = new Set(this.#items.map((i) => i.jobId));
    const entries = pendingUploads().filter((e) => !known.has(e.job_id));
    for (const entry of entries) {
      this.#items.push({
        id: nextId++,
        name: entry.name,
        size: entry.size,
        jobId: entry.job_id,
        state: "interrupted",
        bytesUploaded: 0,
        partsDone: 0,
        partCount: null,
        speed: 0,
        error: null,
      });
    }
    this.#changed();
    await Promise.all(
      entries.map(async (entry) => {
        const item = this.#items.find((i) => i.jobId === entry.job_id);
        try {
          const listed = await this.#client.listParts(entry.job_id);
          this.#update(item, {
            bytesUploaded: listed.parts.reduce((n, p) => n + p.size, 0),
            partsDone: listed.parts.length,
            partCount: listed.part_count,
          });
        } catch (error) {
          if (error.status === 404 || error.status === 409) {
            forget(entry.job_id); // finished, cancelled or gone meanwhile: nothing to resume
            this.#items = this.#items.filter((i) => i !== item);
            this.#changed();
          }
        }
      }),
    );
  }

  /** Check `file` with the API (POST /uploads) and upload it; a file chosen again after a reload resumes. */
  async add(file, { priority = 5, preset = null } = {}) {
    const fileKey = `${file.name}|${file.size}|${file.lastModified}`;
    if (this.#items.some((i) => i.fileKey === fileKey && ACTIVE.has(i.state))) return null; // chosen twice
    const pending = pendingUploads().find((e) => sameFile(e, file));
    let item = pending && this.#items.find((i) => i.jobId === pending.job_id && !i.fileId);
    if (item) this.#update(item, { state: "checking", error: null, fileKey });
    else {
      item = { id: nextId++, name: file.name, size: file.size, jobId: null, state: "checking", bytesUploaded: 0 };
      Object.assign(item, { speed: 0, error: null, fileKey, partsDone: 0, partCount: null });
      this.#items.push(item);
      this.#changed();
    }
    let meta;
    try {
      meta = pending ? await this.#resumeMeta(pending) : await this.#create(file, item, { priority, preset });
    } catch (error) {
      if (pending) forget(pending.job_id);
      this.#update(item, { state: pending ? "failed" : "refused", error: describe(error) });
      return item;
    }
    this.#update(item, { jobId: meta.jobId, partCount: meta.partCount, partsDone: meta.partsDone });
    this.#partSizes.set(file, meta.partSize);
    try {
      item.fileId = this.#uppy.addFile({ name: file.name, type: file.type, data: file, meta, source: "vodpipe" });
    } catch (error) {
      this.#update(item, { state: "failed", error: describe(error) });
      return item;
    }
    if (pending) this.#uppy.setFileState(item.fileId, { s3Multipart: { uploadId: meta.uploadId, key: meta.key } });
    this.#update(item, { state: "uploading" });
    this.#start();
    return item;
  }

  pause(id) {
    const item = this.#get(id);
    if (item?.state !== "uploading") return;
    this.#uppy.pauseResume(item.fileId);
    this.#update(item, { state: "paused", speed: 0 });
  }

  /** Answers false when the item waits for its file to be chosen again (after a reload). */
  resume(id) {
    const item = this.#get(id);
    if (!item) return true;
    if (item.state === "interrupted") return false;
    if (item.state === "paused") {
      this.#uppy.pauseResume(item.fileId);
      this.#update(item, { state: "uploading" });
    } else if (item.state === "failed" && item.fileId) {
      const file = this.#uppy.getFile(item.fileId);
      // Resume from the parts S3 has rather than from the start: Uppy dropped its upload state on the error.
      this.#uppy.setFileState(item.fileId, { s3Multipart: { uploadId: file.meta.uploadId, key: file.meta.key } });
      this.#update(item, { state: "uploading", error: null });
      this.#uppy.retryUpload(item.fileId).catch(() => undefined);
    }
    return true;
  }

  async cancel(id) {
    const item = this.#get(id);
    if (!item || ["done", "cancelled", "refused"].includes(item.state)) return;
    if (item.fileId && this.#uppy.getFile(item.fileId)) this.#uppy.removeFile(item.fileId);
    this.#update(item, { state: "cancelled", speed: 0 });
    if (!item.jobId) return;
    forget(item.jobId);
    try {
      await this.#client.cancelUpload(item.jobId);
    } catch (error) {
      if (error.status !== 404 && error.status !== 409) this.#update(item, { error: describe(error) });
    }
  }

  async #create(file, item, { priority, preset }) {
    const created = await this.#client.createUpload({
      file_name: file.name,
      size: file.size,
      content_type: file.type || null,
      priority,
      preset: preset || null,
    });
    const jobId = created.job.job_id;
    this.#cacheUrls(jobId, created.parts, created.expires_at);
    remember({
      job_id: jobId,
      upload_id: created.upload_id,
      key: created.key,
      name: file.name,
      size: file.size,
      last_modified: file.lastModified,
    });
    return {
      jobId,
      uploadId: created.upload_id,
      key: created.key,
      partSize: created.part_size,
      partCount: created.part_count,
      partsDone: 0,
    };
  }

  async #resumeMeta(pending) {
    const listed = await this.#client.listParts(pending.job_id); // the source of truth, not our memory
    return {
      jobId: pending.job_id,
      uploadId: listed.upload_id,
      key: pending.key,
      partSize: listed.part_size,
      partCount: listed.part_count,
      partsDone: listed.parts.length,
    };
  }

  #start() {
    this.#uppy.upload().catch((error) => console.warn("upload:", error));
  }

  #cacheUrls(jobId, parts, expiresAt) {
    const urls = this.#urls.get(jobId) ?? new Map();
    this.#urls.set(jobId, urls);
    const expires = Date.parse(expiresAt);
    for (const part of parts) urls.set(part.part_number, { url: part.url, expires });
    return urls;
  }

  async #signPart(file, partNumber) {
    const { jobId, partCount } = file.meta;
    const urls = this.#urls.get(jobId) ?? this.#cacheUrls(jobId, [], null);
    const usable = (entry) => entry && (entry.pending || entry.expires - Date.now() > URL_MARGIN_MS);
    if (!usable(urls.get(partNumber))) {
      const numbers = [];
      for (let n = partNumber; n <= partCount && numbers.length < PRESIGN_BATCH; n += 1) {
        if (!usable(urls.get(n))) numbers.push(n);
      }
      const pending = this.#client.presignParts(jobId, numbers).then(
        (signed) => this.#cacheUrls(jobId, signed.parts, signed.expires_at),
        (error) => {
          for (const n of numbers) urls.delete(n);
          throw error;
        },
      );
      for (const n of numbers) urls.set(n, { pending });
    }
    const entry = urls.get(partNumber);
    if (entry.pending) await entry.pending;
    return { method: "PUT", url: urls.get(partNumber).url };
  }

  #onProgress(file, { bytesUploaded }) {
    const item = this.#byFile(file?.id);
    if (!item || item.state !== "uploading") return;
    const now = performance.now();
    const last = item.sample;
    let { speed } = item;
    if (last && bytesUploaded >= last.bytes) {
      const seconds = (now - last.time) / 1000;
      if (seconds < 0.5) return this.#update(item, { bytesUploaded });
      const current = (bytesUploaded - last.bytes) / seconds;
      speed = speed ? 0.7 * speed + 0.3 * current : current;
    }
    item.sample = { time: now, bytes: bytesUploaded };
    this.#update(item, { bytesUploaded, speed });
  }

  #onSuccess(file) {
    const item = this.#byFile(file?.id);
    if (!item) return;
    forget(item.jobId);
    this.#urls.delete(item.jobId);
    this.#uppy.removeFile(file.id); // the same file may be sent again, as a new job
    this.#update(item, { state: "done", bytesUploaded: item.size, partsDone: item.partCount, speed: 0, error: null });
  }

  #get(id) {
    return this.#items.find((i) => i.id === id);
  }

  #byFile(fileId) {
    return fileId && this.#items.find((i) => i.fileId === fileId);
  }

  #update(item, changes) {
    Object.assign(item, changes);
    this.#changed();
  }

  #changed() {
    this.#items = [...this.#items];
    this.dispatchEvent(new Event("change"));
  }
}

function describe(error) {
  if (error?.name === "ApiError") return error.message;
  const status = error?.source?.status;
  if (status) return `The upload was refused by storage (HTTP ${status}); resume to try again.`;
  return error?.message || String(error);
}
