"""An in-memory vodpipe API and presigned part storage on a real local HTTP server (stdlib, one thread per request).

It implements the subset of the REST contract the client uses, with the same documents (jobs are the real
`Job` model, serialized), presigned-like part URLs (HMAC-signed, expiring, refused with 403 otherwise), and
faults to inject: a connection dropped halfway through a part, a 503, revoked URLs, parts held at a known point.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, TypeAdapter, ValidationError

from lambdas.jobs.model import Job, JobOutputs, JobStatus, JobStep, OutputFile, OutputKind, Source, utc_now
from lambdas.jobs.transitions import QueueStats, compute_stats

MiB = 1 << 20
PREFIX = "/_aws/execute-api/fake/v1"  # like the local API URL: a base path the client must keep
RENDITIONS = ("1080p", "720p", "480p", "360p")
WINDOW_HOURS: TypeAdapter[int] = TypeAdapter(Annotated[int, Field(ge=1, le=720)])  # GET /stats, as the real API


@dataclass
class FakeUpload:
    job_id: str
    owner: str
    size: int
    part_size: int
    part_count: int
    upload_id: str = field(default_factory=lambda: secrets.token_hex(8))
    parts: dict[int, tuple[bytes, str]] = field(default_factory=dict)  # number -> (bytes, etag)
    open: bool = True


@dataclass
class Faults:
    drop_once: set[int] = field(default_factory=set)  # part numbers: first PUT dropped halfway through the body
    status_once: dict[int, int] = field(default_factory=dict)  # part number -> status of its first PUT
    # Once this many parts are stored, every further part PUT is read in full, then held (not stored, not
    # answered) until `release` is set, and stored then; `held` says one is waiting. For interrupting at a
    # known point, without sleeps.
    hold_after: int | None = None
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    final_status: str = "COMPLETED"  # where a queued job ends when followed


class FakeVodpipe:
    """Start with `with FakeVodpipe() as api:`; `api.url` is the API base URL, `api.token` a valid token."""

    def __init__(self, *, min_part_size: int = 5 * MiB, default_part_size: int = 8 * MiB, url_ttl_s: int = 900):
        self.token = "fake-token-" + secrets.token_hex(4)
        self.owner = "alice"
        self.min_part_size = min_part_size
        self.default_part_size = default_part_size
        self.url_ttl_s = url_ttl_s
        self.faults = Faults()
        self.jobs: dict[str, Job] = {}
        self.uploads: dict[str, FakeUpload] = {}
        self.objects: dict[str, bytes] = {}
        self.stored_parts: list[int] = []  # part numbers in the order they were stored (every job)
        self.put_attempts: Counter[int] = Counter()
        self._secret = secrets.token_bytes(16)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-vodpipe", daemon=True
        )

    # -- life cycle -----------------------------------------------------------------------------------
    def __enter__(self) -> FakeVodpipe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        return self.origin + PREFIX

    def revoke_urls(self) -> None:
        """Every part URL handed out so far stops working (as if it had expired)."""
        self._secret = secrets.token_bytes(16)

    # -- presigned-like URLs --------------------------------------------------------------------------
    def _sign(self, job_id: str, number: int, expires: int) -> str:
        return hmac.new(self._secret, f"{job_id}/{number}/{expires}".encode(), hashlib.sha256).hexdigest()

    def _presign(self, job_id: str, numbers: list[int]) -> tuple[list[dict[str, Any]], str]:
        expires_at = datetime.now(UTC) + timedelta(seconds=self.url_ttl_s)
        expires = int(expires_at.timestamp())
        parts = [
            {
                "part_number": n,
                "url": f"{self.origin}/_s3/{job_id}/{n}?expires={expires}&sig={self._sign(job_id, n, expires)}",
            }
            for n in numbers
        ]
        return parts, expires_at.isoformat().replace("+00:00", "Z")

    # -- routes ---------------------------------------------------------------------------------------
    def create_upload(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        size = body.get("size")
        if not isinstance(size, int) or size <= 0:
            return _error(400, "invalid_request", "size must be a positive integer", "size")
        part_size = body.get("part_size", self.default_part_size)
        if not isinstance(part_size, int) or part_size < self.min_part_size:
            return _error(400, "invalid_request", f"part_size must be at least {self.min_part_size}", "part_size")
        renditions = tuple(body.get("renditions") or RENDITIONS)
        if any(r not in RENDITIONS for r in renditions):
            return _error(400, "invalid_request", f"renditions must be among {list(RENDITIONS)}", "renditions")
        outputs = tuple(OutputKind(o) for o in body.get("outputs") or ("hls", "thumbnails"))
        part_count = -(-size // part_size)
        if part_count > 10_000:
            return _error(400, "invalid_request", "too many parts: raise part_size", "part_size")
        now = utc_now()
        job = Job.new(
            owner=self.owner,
            source=Source(bucket="fake-uploads", key="pending"),
            requested_renditions=renditions,
            requested_outputs=outputs,
            priority=int(body.get("priority", 5)),
            now=now,
        )
        key = f"uploads/{self.owner}/{job.job_id}/source"
        job = job.model_copy(update={"source": Source(bucket="fake-uploads", key=key)})
        with self._lock:
            self.jobs[job.job_id] = job
            upload = FakeUpload(job.job_id, self.owner, size, part_size, part_count)
            self.uploads[job.job_id] = upload
        parts, expires_at = self._presign(job.job_id, list(range(1, min(part_count, 100) + 1)))
        return 201, {
            "job": _doc(job),
            "upload_id": upload.upload_id,
            "key": key,
            "part_size": part_size,
            "part_count": part_count,
            "parts": parts,
            "expires_at": expires_at,
        }

    def _open_upload(self, job_id: str) -> FakeUpload | tuple[int, dict[str, Any]]:
        upload = self.uploads.get(job_id)
        if upload is None:
            return _error(404, "not_found", f"no upload for job {job_id}")
        if not upload.open:
            return _error(409, "conflict", f"the upload of job {job_id} is no longer open")
        return upload

    def list_parts(self, job_id: str) -> tuple[int, dict[str, Any]]:
        upload = self._open_upload(job_id)
        if not isinstance(upload, FakeUpload):
            return upload
        with self._lock:
            parts = [
                {"part_number": n, "etag": etag, "size": len(data)} for n, (data, etag) in sorted(upload.parts.items())
            ]
        return 200, {
            "job_id": job_id,
            "upload_id": upload.upload_id,
            "part_size": upload.part_size,
            "part_count": upload.part_count,
            "parts": parts,
        }

    def presign_parts(self, job_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        upload = self._open_upload(job_id)
        if not isinstance(upload, FakeUpload):
            return upload
        numbers = body.get("part_numbers")
        if not isinstance(numbers, list) or not 1 <= len(numbers) <= 100:
            return _error(400, "invalid_request", "part_numbers: 1 to 100 part numbers", "part_numbers")
        if any(not isinstance(n, int) or not 1 <= n <= upload.part_count for n in numbers):
            return _error(400, "invalid_request", "part number out of range", "part_numbers")
        parts, expires_at = self._presign(job_id, numbers)
        return 200, {"parts": parts, "expires_at": expires_at}

    def complete(self, job_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        upload = self._open_upload(job_id)
        if not isinstance(upload, FakeUpload):
            return upload
        with self._lock:
            given = {p["part_number"]: p["etag"] for p in body.get("parts") or []} or {
                n: etag for n, (_, etag) in upload.parts.items()
            }
            if sorted(given) != list(range(1, upload.part_count + 1)):
                return _error(400, "invalid_request", "parts missing from the upload", "parts")
            for n, etag in given.items():
                if n not in upload.parts or upload.parts[n][1] != etag:
                    return _error(400, "invalid_request", f"part {n}: etag does not match", "parts")
            data = b"".join(upload.parts[n][0] for n in sorted(upload.parts))
            if len(data) != upload.size:
                return _error(400, "invalid_request", "assembled size differs from the declared size", "size")
            upload.open = False
            job = self.jobs[job_id]
            self.objects[job.source.key] = data
            job = self._put_job(job, status=JobStatus.QUEUED, queued_at=utc_now())
        return 200, _doc(job)

    def abort(self, job_id: str) -> tuple[int, dict[str, Any]]:
        upload = self._open_upload(job_id)
        if not isinstance(upload, FakeUpload):
            return upload
        upload.open = False
        job = self._put_job(self.jobs[job_id], status=JobStatus.CANCELLED, completed_at=utc_now())
        return 200, _doc(job)

    def get_job(self, job_id: str) -> tuple[int, dict[str, Any]]:
        job = self.jobs.get(job_id)
        if job is None:
            return _error(404, "not_found", f"no job {job_id}")
        return 200, _doc(self._advance(job))

    def _advance(self, job: Job) -> Job:
        """Each look at a queued job moves it one step on, so followers see progress and an end."""
        now = utc_now()
        if job.status is JobStatus.QUEUED:
            return self._put_job(job, status=JobStatus.PROCESSING, started_at=now, current_step=JobStep.PROBE)
        if job.status is not JobStatus.PROCESSING:
            return job
        if job.progress < 50:
            half = dict.fromkeys(job.requested_renditions, 50)
            return self._put_job(job, progress=50, current_step=JobStep.TRANSCODE, rendition_progress=half)
        if self.faults.final_status == "FAILED":
            return self._put_job(
                job,
                status=JobStatus.FAILED,
                error_type="UnsupportedInput",
                error_message="no video stream",
                completed_at=now,
            )
        master = f"outputs/{job.job_id}/master.m3u8"
        files = (
            OutputFile(kind=OutputKind.HLS, key=master, size_bytes=300),
            *(
                OutputFile(kind=OutputKind.HLS, key=f"outputs/{job.job_id}/{r}/index.m3u8", size_bytes=1, rendition=r)
                for r in job.requested_renditions
            ),
        )
        return self._put_job(
            job,
            status=JobStatus.COMPLETED,
            progress=100,
            current_step=JobStep.PUBLISH,
            rendition_progress=dict.fromkeys(job.requested_renditions, 100),
            completed_at=now,
            outputs=JobOutputs(playback_url=f"{self.origin}/outputs/{master}", manifest_key=master, files=files),
        )

    def _put_job(self, job: Job, **changes: Any) -> Job:
        updated = Job.model_validate(job.model_dump() | changes | {"updated_at": utc_now(), "version": job.version + 1})
        self.jobs[job.job_id] = updated
        return updated

    def list_jobs(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        jobs = sorted(self.jobs.values(), key=lambda j: j.job_id, reverse=True)
        if "status" in query:
            jobs = [j for j in jobs if j.status == query["status"][0]]
        limit = int(query.get("limit", ["20"])[0])
        return 200, {"jobs": [_doc(j) for j in jobs[:limit]], "next_cursor": "more" if len(jobs) > limit else None}

    def cancel_job(self, job_id: str) -> tuple[int, dict[str, Any]]:
        job = self.jobs.get(job_id)
        if job is None:
            return _error(404, "not_found", f"no job {job_id}")
        if job.status.terminal:
            return _error(409, "conflict", f"job {job_id} is already {job.status}")
        if job_id in self.uploads:
            self.uploads[job_id].open = False
        return 200, _doc(self._put_job(job, status=JobStatus.CANCELLED, completed_at=utc_now()))

    def retry_job(self, job_id: str) -> tuple[int, dict[str, Any]]:
        job = self.jobs.get(job_id)
        if job is None:
            return _error(404, "not_found", f"no job {job_id}")
        if job.status is not JobStatus.FAILED:
            return _error(409, "conflict", f"only FAILED jobs can be retried; job {job_id} is {job.status}")
        changes = {"status": JobStatus.QUEUED, "retry_count": job.retry_count + 1, "completed_at": None}
        return 200, _doc(self._put_job(job, **changes, error_type=None, error_message=None, progress=0))

    def events(self, job_id: str) -> tuple[int, dict[str, Any]]:
        job = self.jobs.get(job_id)
        if job is None:
            return _error(404, "not_found", f"no job {job_id}")
        event = {"time": _doc(job)["created_at"], "step": "registered", "kind": "info", "message": "upload started"}
        return 200, {"events": [event]}

    def stats(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """As lambdas/api/app.py: window_hours a whole number of hours in 1..720 (422 otherwise), the answer
        the real `compute_stats` gives over the caller's jobs."""
        try:
            hours = WINDOW_HOURS.validate_python(query.get("window_hours", ["24"])[0])
        except ValidationError as exc:
            message = f"window_hours: {exc.errors()[0]['msg']}"
            return _error(422, "validation_error", message, "window_hours")
        owned = [job for job in self.jobs.values() if job.owner == self.owner]
        stats: QueueStats = compute_stats(owned, utc_now(), timedelta(hours=hours))
        return 200, stats.model_dump(mode="json")

    # -- storage --------------------------------------------------------------------------------------
    def put_part(self, handler: BaseHTTPRequestHandler, path: str, query: dict[str, list[str]]) -> None:
        match = re.fullmatch(r"/_s3/([0-9A-Z]{26})/(\d+)", path)
        length = int(handler.headers.get("Content-Length", "0"))
        if match is None:
            handler.rfile.read(length)
            return _send(handler, 404, b"<Error><Code>NoSuchKey</Code></Error>")
        job_id, number = match[1], int(match[2])
        expires = int(query.get("expires", ["0"])[0])
        signature = query.get("sig", [""])[0]
        with self._lock:
            self.put_attempts[number] += 1
            first = self.put_attempts[number] == 1
        if number in self.faults.drop_once and first:
            # The network fails halfway: read half of the body, then hang up without answering.
            handler.rfile.read(length // 2)
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return None
        data = handler.rfile.read(length)
        if len(data) < length:  # the client hung up mid-body: S3 keeps nothing of it
            handler.close_connection = True
            return None
        if not hmac.compare_digest(signature, self._sign(job_id, number, expires)) or expires < time.time():
            return _send(handler, 403, b"<Error><Code>AccessDenied</Code></Error>")
        if first and number in self.faults.status_once:
            return _send(handler, self.faults.status_once[number], b"<Error><Code>SlowDown</Code></Error>")
        upload = self.uploads.get(job_id)
        if upload is None or not upload.open:
            return _send(handler, 404, b"<Error><Code>NoSuchUpload</Code></Error>")
        if self.faults.hold_after is not None and len(self.stored_parts) >= self.faults.hold_after:
            self.faults.held.set()
            self.faults.release.wait(timeout=60)  # a bound, so a broken test cannot leave the thread behind
        etag = '"' + hashlib.md5(data).hexdigest() + '"'  # what S3 does
        with self._lock:
            upload.parts[number] = (data, etag)
            self.stored_parts.append(number)
        return _send(handler, 200, b"", {"ETag": etag})


def _doc(job: Job) -> dict[str, Any]:
    return job.model_dump(mode="json")


def _error(status: int, error: str, message: str, field: str | None = None) -> tuple[int, dict[str, Any]]:
    return status, {"error": error, "message": message, "field": field}


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _handler(api: FakeVodpipe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_PUT(self) -> None:
            url = urlsplit(self.path)
            api.put_part(self, url.path, parse_qs(url.query))

        def do_GET(self) -> None:
            self._api("GET")

        def do_POST(self) -> None:
            self._api("POST")

        def do_DELETE(self) -> None:
            self._api("DELETE")

        def _api(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length) if length else b""
            if not url.path.startswith(PREFIX + "/"):
                return self._json(404, {"message": "Not Found"})
            if self.headers.get("Authorization") != f"Bearer {api.token}":
                return self._json(401, {"message": "Unauthorized"})  # what API Gateway's authorizer answers
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                return self._json(*_error(400, "invalid_json", "the body is not JSON"))
            status, document = self._route(method, url.path[len(PREFIX) :], body, parse_qs(url.query))
            return self._json(status, document)

        def _route(
            self, method: str, path: str, body: dict[str, Any], query: dict[str, list[str]]
        ) -> tuple[int, dict[str, Any]]:
            routes: list[tuple[str, str, Any]] = [
                ("POST", r"/uploads", lambda: api.create_upload(body)),
                ("GET", r"/uploads/(\w+)/parts", api.list_parts),
                ("POST", r"/uploads/(\w+)/parts", lambda j: api.presign_parts(j, body)),
                ("POST", r"/uploads/(\w+)/complete", lambda j: api.complete(j, body)),
                ("DELETE", r"/uploads/(\w+)", api.abort),
                ("GET", r"/jobs", lambda: api.list_jobs(query)),
                ("GET", r"/jobs/(\w+)", api.get_job),
                ("DELETE", r"/jobs/(\w+)", api.cancel_job),
                ("POST", r"/jobs/(\w+)/retry", api.retry_job),
                ("GET", r"/jobs/(\w+)/events", api.events),
                ("GET", r"/stats", lambda: api.stats(query)),
            ]
            for route_method, pattern, action in routes:
                match = re.fullmatch(pattern, path)
                if match and method == route_method:
                    result: tuple[int, dict[str, Any]] = action(*match.groups())
                    return result
            return _error(404, "not_found", f"no route {method} {path}")

        def _json(self, status: int, document: dict[str, Any]) -> None:
            _send(self, status, json.dumps(document).encode(), {"Content-Type": "application/json"})

    return Handler
