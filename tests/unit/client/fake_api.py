"""The real vodpipe API on a local HTTP server (stdlib, one thread per request), for the client's tests.

Requests under `url` pass the token check API Gateway's authorizer makes (a missing or unknown token is answered
401 `{"message": "Unauthorized"}`), become the REST proxy events API Gateway sends, and are answered by the real
function (`ApiRoutes`, lambdas/api/routes.py) over the in-memory adapters, wired by `build_api` as the API's own unit
tests are (tests/unit/api/conftest.py). The in-memory upload store's presigned part URLs point at this server,
which takes the PUTs as S3 does (the part's ETag in the `ETag` header, 403 once the URL expired).

Departures, all for the tests: an upload that asks for no part size gets `default_part_size` (not 8 MiB) and
parts may be as small as `min_part_size` (not S3's 5 MiB), so files stay small; `faults` drops, refuses or
holds part PUTs; and each GET /jobs/{id} moves a queued job one step through processing, as the workflow would
(real transitions on the in-memory repository), ending as `faults.final_status` says (or staying QUEUED
while `faults.hold_queued`; or not at all while `faults.advance_on_look` is off: the test moves it with
`advance` and `progress`).

A long-poll (`GET /jobs/{id}?wait=S&version=V`) waits here, outside the lock the function runs under, so other
requests and the test's changes go on meanwhile; the function then answers at once (the revision passed) or, when
the wait saw no change, as a plain conditional GET would (the job, or 304 for its ETag). `faults.old_api` answers
GET /jobs/{id} as an API before long-polling did: no `revision`, no ETag, `wait` ignored. The webhook routes are
answered by `FakeWebhooks` (fake_webhooks.py) until the function serves them. `requests` logs every API request.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lambdas.auth.tokens import authenticate
from lambdas.jobs.model import (
    EventKind,
    Job,
    JobEvent,
    JobOutputs,
    JobStatus,
    JobStep,
    OutputFile,
    OutputKind,
    QualityMetric,
    RenditionQuality,
    utc_now,
)
from lambdas.jobs.ports import JobNotFound
from lambdas.jobs.transitions import transition
from lambdas.queue.config import QueueConfig
from lambdas.storage.ports import MIN_PART_SIZE, UploadNotFound
from tests.fakes.api import InMemoryUploadStore
from tests.unit.api.conftest import ALICE, TOKENS, Api, Clock, authorizer_context, build_api
from tests.unit.client.fake_webhooks import FakeWebhooks

MiB = 1 << 20
PREFIX = "/_aws/execute-api/fake/v1"  # like the local API URL: a base path the client must keep
STORAGE = "/_s3/"  # where the part URLs point: /_s3/{bucket}/{key}?uploadId=…&partNumber=…&expires=…
UNAUTHORIZED = {"message": "Unauthorized"}  # what API Gateway's token authorizer answers
LONG_POLL_LIMIT_S = 25  # the contract's most `wait`: beyond it (or below 0) the function answers 422


class WallClock(Clock):
    """The real time: the client compares the URLs' `expires_at` with its own clock."""

    def __call__(self) -> datetime:
        return utc_now()


class HttpUploadStore(InMemoryUploadStore):
    """The in-memory store, its presigned URLs on the fake's server instead of `memory://{bucket}/{key}?…`."""

    def __init__(self, origin: str, *, min_part_size: int) -> None:
        super().__init__(min_part_size=min_part_size)
        self.origin = origin

    def presign_part(self, bucket: str, key: str, upload_id: str, part_number: int, expires_in: int) -> str:
        url = super().presign_part(bucket, key, upload_id, part_number, expires_in)
        return self.origin + STORAGE + url.removeprefix("memory://")

    def put_request(self, target: str, data: bytes) -> str:
        """A PUT to `target` (the path and query of a presigned URL): the part's ETag."""
        return self.put_part("memory://" + target.removeprefix(STORAGE), data)


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
    final_status: str = "COMPLETED"  # where a queued job ends when followed: COMPLETED or FAILED
    hold_queued: bool = False  # a QUEUED job stays QUEUED when looked at (its place in the queue shows)
    advance_on_look: bool = True  # off: GET /jobs/{id} changes nothing (the test calls advance / progress)
    old_api: bool = False  # GET /jobs/{id} without revision, ETag or long-polling


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int


class FakeVodpipe:
    """Start with `with FakeVodpipe() as fake:`; `fake.url` is the API base URL, `fake.token` a valid token."""

    def __init__(
        self,
        *,
        min_part_size: int = MIN_PART_SIZE,
        default_part_size: int | None = None,
        max_upload_bytes: int = 5 * 2**30,
        queue: QueueConfig | None = None,
    ) -> None:
        self.owner = ALICE
        self.token = TOKENS[ALICE]
        self.faults = Faults()
        self.stored_parts: list[int] = []  # part numbers in the order they were stored (every job)
        self.put_attempts: Counter[int] = Counter()
        self.requests: list[Request] = []  # every API request, in the order answered
        self.webhooks = FakeWebhooks()
        # One event at a time through the function (as one Lambda instance) and the in-memory adapters.
        self._lock = threading.RLock()
        # Notified after every change the fake sees (each request, advance, progress): long-polls wake up.
        self._changed = threading.Condition(self._lock)
        self._polling = 0  # long-polls waiting now
        self._polls = 0  # long-polls that have waited, ever
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-vodpipe", daemon=True
        )
        self._outputs = tempfile.TemporaryDirectory(prefix="fake-vodpipe-")
        self.store = HttpUploadStore(self.origin, min_part_size=min_part_size)
        self.api: Api = build_api(
            Path(self._outputs.name),
            WallClock(),
            max_upload_bytes=max_upload_bytes,
            uploads=self.store,
            default_part_size=default_part_size,
            queue=queue,
        )

    # -- life cycle -----------------------------------------------------------------------------------
    def __enter__(self) -> FakeVodpipe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.faults.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._outputs.cleanup()

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        return self.origin + PREFIX

    # -- what tests look at and do --------------------------------------------------------------------
    def job(self, job_id: str) -> Job:
        return self.api.repo.get(job_id)

    def jobs(self) -> list[Job]:
        return self.api.repo.list_for_owner(self.owner, limit=100)[0]

    def stored(self, job_id: str) -> bytes:
        """The object the job's completed upload assembled."""
        source = self.job(job_id).source
        return self.store.objects[(source.bucket, source.key)][0]

    def parts(self, job_id: str) -> list[int]:
        """The part numbers the job's open upload holds."""
        job = self.job(job_id)
        assert job.upload is not None
        with self._lock:
            listed = self.store.list_parts(job.source.bucket, job.source.key, job.upload.upload_id)
        return [part.part_number for part in listed]

    def revoke_urls(self) -> None:
        """Every part URL handed out so far expires: the store's clock moves past their expiry."""
        with self._lock:
            self.store.now += max((expiry for *_, expiry in self.store.presigned), default=0) + 1

    def advance(self, job_id: str) -> None:
        """One step of the workflow, as a look would take it with `advance_on_look`."""
        with self._changed:
            self._advance(self.job(job_id).owner, job_id, always=True)
            self._changed.notify_all()

    def progress(self, job_id: str, percent: int) -> None:
        """A PROCESSING job's transcode at `percent`, every rendition alike (one change of its revision)."""
        with self._changed:
            self.api.repo.update_progress(job_id, JobStep.TRANSCODE, percent)
            self._changed.notify_all()

    def await_long_poll(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Until the `count`-th long-poll is waiting here (False after `timeout`): a change made then is the one
        it answers with."""
        with self._changed:
            return self._changed.wait_for(lambda: self._polls >= count and self._polling > 0, timeout)

    def job_gets(self, job_id: str) -> list[Request]:
        return [r for r in self.requests if (r.method, r.path) == ("GET", f"/jobs/{job_id}")]

    # -- the API --------------------------------------------------------------------------------------
    def serve(self, method: str, target: str, headers: Message, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        """The answer to a request for `target` (path and query below the base path): status, headers, body."""
        status, sent, content = self._serve(method, target, headers, raw)
        url = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        with self._changed:
            self.requests.append(Request(method, url.path, query, {k: str(v) for k, v in headers.items()}, status))
            self._changed.notify_all()
        return status, sent, content

    def _serve(self, method: str, target: str, headers: Message, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(target)
        path = url.path
        context: dict[str, Any] = {"stage": "v1", "requestId": "r-1", "httpMethod": method, "path": PREFIX + path}
        public = method == "GET" and path == "/openapi.json"  # the one route without the authorizer
        identity = None
        if not public:
            identity = authenticate(self.api.tokens, headers.get("Authorization"))
            if identity is None:
                return 401, {"Content-Type": "application/json"}, json.dumps(UNAUTHORIZED).encode()
            context["authorizer"] = authorizer_context(identity)
        query = parse_qs(url.query, keep_blank_values=True)
        names = {name for name in headers}
        followed = re.fullmatch(r"/jobs/([^/]+)", path) if method == "GET" and not public else None
        if identity is not None and path.startswith("/webhooks"):
            answer = self._webhooks(identity.owner, method, path, query, raw)
            if answer is not None:
                return answer
        if identity is not None and followed:
            if self.faults.advance_on_look:
                self._advance(identity.owner, followed[1])
            if self.faults.old_api:
                query = {k: v for k, v in query.items() if k not in ("wait", "version")}
                names = {name for name in names if name.lower() != "if-none-match"}
            else:
                query = self._long_poll(identity.owner, followed[1], query)
        try:  # API Gateway passes bodies that are not text base64-encoded
            body, encoded = (raw.decode("utf-8") if raw else None), False
        except UnicodeDecodeError:
            body, encoded = base64.b64encode(raw).decode(), True
        event = {
            "resource": "/openapi.json" if public else "/{proxy+}",
            "path": path,
            "httpMethod": method,
            "headers": {name: str(headers.get(name)) for name in names},
            "multiValueHeaders": {name: [str(v) for v in headers.get_all(name) or ()] for name in names},
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": {"proxy": path.lstrip("/")},
            "stageVariables": None,
            "requestContext": context,
            "body": body,
            "isBase64Encoded": encoded,
        }
        with self._lock:
            response = self.api.handler(event, None)  # type: ignore[arg-type]
        sent = dict(response.get("headers") or {})
        for name, values in (response.get("multiValueHeaders") or {}).items():
            sent[name] = ", ".join(values)
        text = response.get("body") or ""
        content = base64.b64decode(text) if response.get("isBase64Encoded") else text.encode()
        if followed and self.faults.old_api:
            sent = {k: v for k, v in sent.items() if k.lower() != "etag"}
            if int(response["statusCode"]) == 200:
                content = json.dumps({k: v for k, v in json.loads(content).items() if k != "revision"}).encode()
        return int(response["statusCode"]), sent, content

    def _webhooks(
        self, owner: str, method: str, path: str, query: dict[str, list[str]], raw: bytes
    ) -> tuple[int, dict[str, str], bytes] | None:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            answer = self.webhooks.handle(owner, method, path, query, body)
        if answer is None:
            return None
        status, document = answer
        if document is None:
            return status, {}, b""
        return status, {"Content-Type": "application/json"}, json.dumps(document).encode()

    def _long_poll(self, owner: str, job_id: str, query: dict[str, list[str]]) -> dict[str, list[str]]:
        """Wait here for `?wait=S&version=V` (the function's own wait would hold the lock), then the query the
        function answers at once with: as sent when the revision passed V, without the wait when it did not."""
        wait, version = _number(query, "wait"), _number(query, "version")
        whole = version is None or (version.is_integer() and version >= 0)
        if wait is None or not 0 < wait <= LONG_POLL_LIMIT_S or (version is None and "version" in query) or not whole:
            return query  # not a long-poll, or one the function refuses
        deadline = time.monotonic() + wait
        with self._changed:
            try:
                job = self.api.repo.get_for_owner(owner, job_id)
            except JobNotFound:
                return query  # the function answers 404
            target = job.revision if version is None else int(version)
            self._polling += 1
            self._polls += 1
            self._changed.notify_all()
            try:
                while job.revision <= target and (left := deadline - time.monotonic()) > 0:
                    self._changed.wait(min(left, 0.05))  # also sees changes made behind the fake's back
                    job = self.api.repo.get(job_id)
            finally:
                self._polling -= 1
        if job.revision > target:
            return query | {"version": [str(target)]}
        return {k: v for k, v in query.items() if k not in ("wait", "version")}

    def _advance(self, owner: str, job_id: str, *, always: bool = False) -> None:
        """What the workflow would have done by the time of this look: a QUEUED job starts, a PROCESSING one
        is half transcoded, then ends as `faults.final_status` says. Real transitions, on the real repository."""
        repo, now = self.api.repo, utc_now()
        with self._lock:
            try:
                job = repo.get_for_owner(owner, job_id)
            except JobNotFound:
                return  # the API answers
            if job.status is JobStatus.QUEUED and self.faults.hold_queued and not always:
                return
            if job.status is JobStatus.QUEUED:
                repo.save_transition(job, transition(job, JobStatus.PROCESSING, now, current_step=JobStep.PROBE))
                repo.append_event(job_id, JobEvent(time=now, step=JobStep.PROBE, kind=EventKind.STARTED))
            elif job.status is JobStatus.PROCESSING and job.progress < 50:
                repo.update_progress(job_id, JobStep.TRANSCODE, 50)
                for rendition in job.requested_renditions:
                    repo.update_progress(job_id, JobStep.TRANSCODE, 50, rendition)
            elif job.status is JobStatus.PROCESSING and self.faults.final_status == "FAILED":
                failed = transition(
                    job, JobStatus.FAILED, now, error_type="UnsupportedInput", error_message="no video stream"
                )
                repo.save_transition(job, failed)
                event = JobEvent(time=now, step=job.current_step, kind=EventKind.FAILED, message="no video stream")
                repo.append_event(job_id, event)
            elif job.status is JobStatus.PROCESSING:
                repo.save_transition(job, transition(job, JobStatus.COMPLETED, now, **self._outputs_of(job)))
                repo.append_event(job_id, JobEvent(time=now, step=JobStep.PUBLISH, kind=EventKind.FINISHED))

    def _outputs_of(self, job: Job) -> dict[str, Any]:
        master = f"outputs/{job.job_id}/master.m3u8"
        files = (
            OutputFile(kind=OutputKind.HLS, key=master, size_bytes=300),
            *(
                OutputFile(kind=OutputKind.HLS, key=f"outputs/{job.job_id}/{r}/index.m3u8", size_bytes=1, rendition=r)
                for r in job.requested_renditions
            ),
        )
        return {
            "current_step": JobStep.PUBLISH,
            "rendition_progress": dict.fromkeys(job.requested_renditions, 100),
            "outputs": JobOutputs(
                playback_url=f"{self.origin}/{master}",
                manifest_key=master,
                files=files,
                # As PackageOutputs reports it: one VMAF per rung, the smaller rungs further from the source.
                quality=tuple(
                    RenditionQuality(
                        rendition=r,
                        metric=QualityMetric.VMAF,
                        mean=94.1 - 6 * n,
                        min=88.0 - 6 * n,
                        harmonic_mean=94.0 - 6 * n,
                        frames=24,
                    )
                    for n, r in enumerate(job.requested_renditions)
                ),
            ),
        }

    # -- storage --------------------------------------------------------------------------------------
    def put_part(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        query = parse_qs(urlsplit(handler.path).query)
        if not handler.path.startswith(STORAGE) or not query.get("partNumber", [""])[0].isdigit():
            handler.rfile.read(length)
            return _send(handler, 404, b"<Error><Code>NoSuchKey</Code></Error>")
        number = int(query["partNumber"][0])
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
        if first and number in self.faults.status_once:
            return _send(handler, self.faults.status_once[number], b"<Error><Code>SlowDown</Code></Error>")
        if self.faults.hold_after is not None and len(self.stored_parts) >= self.faults.hold_after:
            self.faults.held.set()
            self.faults.release.wait(timeout=60)  # a bound, so a broken test cannot leave the thread behind
        try:
            with self._lock:
                etag = self.store.put_request(handler.path, data)
                self.stored_parts.append(number)
        except PermissionError:  # expired
            return _send(handler, 403, b"<Error><Code>AccessDenied</Code></Error>")
        except (UploadNotFound, KeyError, ValueError):
            return _send(handler, 404, b"<Error><Code>NoSuchUpload</Code></Error>")
        return _send(handler, 200, b"", {"ETag": f'"{etag}"'})  # quoted, as S3 answers it


def _number(query: dict[str, list[str]], name: str) -> float | None:
    try:
        return float(query[name][-1])
    except (KeyError, ValueError):
        return None


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    for key, value in (headers or {}).items():
        if key.lower() not in {"content-length", "connection"}:
            handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _handler(fake: FakeVodpipe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_PUT(self) -> None:
            if self.path.startswith(STORAGE):
                return fake.put_part(self)
            return self._api("PUT")

        def do_GET(self) -> None:
            self._api("GET")

        def do_POST(self) -> None:
            self._api("POST")

        def do_DELETE(self) -> None:
            self._api("DELETE")

        def do_PATCH(self) -> None:
            self._api("PATCH")

        def _api(self, method: str) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length) if length else b""
            if not self.path.startswith(PREFIX + "/"):
                return _send(self, 404, b'{"message": "Not Found"}', {"Content-Type": "application/json"})
            status, headers, body = fake.serve(method, self.path[len(PREFIX) :], self.headers, raw)
            return _send(self, status, body, headers)

    return Handler
