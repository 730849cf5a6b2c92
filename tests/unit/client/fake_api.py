"""An in-memory vodpipe API and presigned part storage on a real local HTTP server (stdlib, one thread per request).

It implements the subset of the REST contract the client uses, with the same documents (jobs are the real
`Job` model, serialized as the API does), presigned-like part URLs (HMAC-signed, expiring, refused with 403
otherwise), and faults to inject: a connection dropped halfway through a part, a 503, revoked URLs, parts held
at a known point.

Refusals are the real API's: request bodies are validated with its models (lambdas/api/models.py) and answered
by its own `_validation_answer`, business rules raise its `ApiError`s (lambdas/api/errors.py) with the messages
and fields lambdas/api/uploads.py and jobs.py use. tests/unit/client/test_fake_parity.py holds the two to the
same answers. Departures, on purpose: parts may be as small as `min_part_size` (tests use small files), and a
missing or unknown token is answered as API Gateway's authorizer does (`{"message": "Unauthorized"}`).
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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, StringConstraints, TypeAdapter, ValidationError

from lambdas.api.app import CURSOR_PATTERN, JobId, _validation_answer
from lambdas.api.app import _error as api_error
from lambdas.api.config import ApiConfig
from lambdas.api.errors import ApiError, Conflict, ErrorKind, InvalidInput, NotFound
from lambdas.api.models import CompleteUpload, CreateUpload, PartNumbers, public_job
from lambdas.api.ports import MIN_PART_SIZE
from lambdas.api.uploads import ALL_OUTPUTS, ALL_RENDITIONS, plan_parts
from lambdas.jobs.memory import _decode_cursor, _encode_cursor, _owner_order
from lambdas.jobs.model import Job, JobOutputs, JobStatus, JobStep, OutputFile, OutputKind, Source, Upload, utc_now
from lambdas.jobs.ports import InvalidCursor
from lambdas.jobs.transitions import IllegalTransition, QueueStats, RetryLimitReached, compute_stats, retry

MiB = 1 << 20
PREFIX = "/_aws/execute-api/fake/v1"  # like the local API URL: a base path the client must keep
MAX_UPLOAD_BYTES: int = ApiConfig.model_fields["max_upload_bytes"].default

# Query and path parameters, constrained as the routes of lambdas/api/app.py declare them.
JOB_ID: TypeAdapter[str] = TypeAdapter(JobId)
WINDOW_HOURS: TypeAdapter[int] = TypeAdapter(Annotated[int, Field(ge=1, le=720)])  # GET /stats
LIMIT: TypeAdapter[int] = TypeAdapter(Annotated[int, Field(ge=1, le=100)])  # GET /jobs
STATUS: TypeAdapter[JobStatus] = TypeAdapter(JobStatus)
CURSOR: TypeAdapter[str] = TypeAdapter(Annotated[str, StringConstraints(max_length=1024, pattern=CURSOR_PATTERN)])

Answer = tuple[int, dict[str, Any]]
Problems = list[dict[str, Any]]


class Refused(Exception):
    """An answer decided before the route runs (a body that is not JSON, invalid parameters)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer)
        self.answer = answer


def error(status: int, kind: ErrorKind, message: str, field: str | None = None) -> Answer:
    """The error document the real API builds (`lambdas.api.app._error`)."""
    return _answer(api_error(status, kind, message, field))


def refusal(problems: Problems) -> Answer:
    """What the real API answers for these validation problems: its own `_validation_answer`."""
    return _answer(_validation_answer(RequestValidationError(problems)))


def _answer(response: Response[dict[str, Any]]) -> Answer:
    assert response.body is not None
    return int(response.status_code), dict(response.body)


def check(adapter: TypeAdapter[Any], value: Any, where: tuple[str, ...]) -> tuple[Any, Problems]:
    """`value` validated as Powertools does (`from_attributes`, errors located under `where`)."""
    try:
        return adapter.validate_python(value, from_attributes=True), []
    except ValidationError as exc:
        return None, [{**problem, "loc": (*where, *problem["loc"])} for problem in exc.errors()]


def query_value[T](query: dict[str, list[str]], name: str, adapter: TypeAdapter[T], default: T) -> T:
    if name not in query:
        return default
    value, problems = check(adapter, query[name][-1], ("query", name))
    if problems:
        raise Refused(refusal(problems))
    return value


def json_body(raw: bytes, content_type: str) -> Any:
    """The request body as Powertools parses it for a route that takes one; None when there is none.

    Powertools also parses form and multipart bodies (then refused 422 by the models); here any type but JSON
    is 415: the client only ever sends JSON."""
    if content_type.strip() and not content_type.strip().startswith("application/json"):
        message = "the body must be application/json"
        raise Refused(error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, ErrorKind.UNSUPPORTED_MEDIA_TYPE, message))
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        message = "the body is not valid JSON: not UTF-8"
        raise Refused(error(HTTPStatus.BAD_REQUEST, ErrorKind.VALIDATION_ERROR, message)) from None
    except json.JSONDecodeError as exc:
        problem = {
            "type": "json_invalid",
            "loc": ("body", exc.pos),
            "msg": "JSON decode error",
            "ctx": {"error": exc.msg},
        }
        raise Refused(refusal([problem])) from None
    except RecursionError:
        message = "the body is not valid JSON: nested too deeply"
        raise Refused(error(HTTPStatus.BAD_REQUEST, ErrorKind.VALIDATION_ERROR, message)) from None


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # `(?P<job_id>…)` where the real route has <job_id>
    action: Callable[..., Answer]
    body: type[BaseModel] | None = None  # the request model of a route that takes a body
    body_required: bool = True
    takes_query: bool = False


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

    def __init__(
        self,
        *,
        min_part_size: int = 5 * MiB,
        default_part_size: int = 8 * MiB,
        url_ttl_s: int = 900,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
    ):
        self.token = "fake-token-" + secrets.token_hex(4)
        self.owner = "alice"
        self.min_part_size = min_part_size
        self.default_part_size = default_part_size
        self.url_ttl_s = url_ttl_s
        self.max_upload_bytes = max_upload_bytes
        self.faults = Faults()
        self.jobs: dict[str, Job] = {}
        self.uploads: dict[str, FakeUpload] = {}
        self.objects: dict[str, bytes] = {}
        self.stored_parts: list[int] = []  # part numbers in the order they were stored (every job)
        self.put_attempts: Counter[int] = Counter()
        self._secret = secrets.token_bytes(16)
        self._lock = threading.RLock()
        self._routes = self._route_table()
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

    # -- routing, as the resolver of lambdas/api/app.py ------------------------------------------------
    def _route_table(self) -> list[Route]:
        job = r"(?P<job_id>[^/]+)"
        return [
            Route("POST", r"/uploads", self.create_upload, CreateUpload),
            Route("GET", rf"/uploads/{job}/parts", self.list_parts),
            Route("POST", rf"/uploads/{job}/parts", self.presign_parts, PartNumbers),
            Route("POST", rf"/uploads/{job}/complete", self.complete, CompleteUpload, body_required=False),
            Route("DELETE", rf"/uploads/{job}", self.abort),
            Route("GET", r"/jobs", self.list_jobs, takes_query=True),
            Route("GET", rf"/jobs/{job}", self.get_job),
            Route("DELETE", rf"/jobs/{job}", self.cancel_job),
            Route("POST", rf"/jobs/{job}/retry", self.retry_job),
            Route("GET", rf"/jobs/{job}/events", self.events),
            Route("GET", r"/stats", self.stats, takes_query=True),
        ]

    def answer(
        self,
        method: str,
        path: str,
        raw: bytes = b"",
        query: dict[str, list[str]] | None = None,
        content_type: str = "",
    ) -> Answer:
        """The answer to an authenticated request: `path` is below the API's base path."""
        for route in self._routes:
            match = re.fullmatch(route.pattern, path)
            if match is None or route.method != method:
                continue
            try:
                return self._serve(route, match.groupdict(), raw, query or {}, content_type)
            except Refused as refused:
                return refused.answer
            except ApiError as exc:  # as the real resolver's handler of ApiError
                return error(exc.status, exc.kind, exc.message, exc.field)
        return error(HTTPStatus.NOT_FOUND, ErrorKind.NOT_FOUND, "no such route")

    def _serve(
        self, route: Route, path: dict[str, str], raw: bytes, query: dict[str, list[str]], content_type: str
    ) -> Answer:
        # Powertools: path parameters are validated, then the body is parsed (a body that is not JSON is
        # answered at once) and validated; every problem found so far is then answered together.
        problems: Problems = []
        args: list[Any] = []
        if "job_id" in path:
            problems += check(JOB_ID, path["job_id"], ("path", "job_id"))[1]
            args.append(path["job_id"])
        if route.body is not None:
            request, found = self._request(route, json_body(raw, content_type))
            problems += found
            args.append(request)
        if problems:
            return refusal(problems)
        if route.takes_query:
            args.append(query)
        return route.action(*args)

    def _request(self, route: Route, document: Any) -> tuple[Any, Problems]:
        assert route.body is not None
        if document is None:
            if route.body_required:
                return None, [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
            return route.body(), []
        small = None
        if route.body is CreateUpload and isinstance(document, dict):
            # The fake's one departure: parts from `min_part_size` up (the real minimum is S3's 5 MiB).
            part_size = document.get("part_size")
            if type(part_size) is int and self.min_part_size <= part_size < MIN_PART_SIZE:
                document, small = {**document, "part_size": None}, part_size
        request, problems = check(TypeAdapter(route.body), document, ("body",))
        if request is not None and small is not None:
            request = request.model_copy(update={"part_size": small})
        return request, problems

    # -- uploads, as lambdas/api/uploads.py ------------------------------------------------------------
    def create_upload(self, request: CreateUpload) -> Answer:
        if request.size > self.max_upload_bytes:
            raise InvalidInput(
                f"size: the file is {request.size} bytes; the limit is {self.max_upload_bytes}", field="size"
            )
        part_size, part_count = plan_parts(request.size, request.part_size or self.default_part_size)
        upload = FakeUpload("", self.owner, request.size, part_size, part_count)
        job = Job.new(
            owner=self.owner,
            source=Source(bucket="fake-uploads", key="pending"),
            requested_renditions=tuple(request.renditions or ALL_RENDITIONS),
            requested_outputs=tuple(OutputKind(o) for o in request.outputs) if request.outputs else ALL_OUTPUTS,
            priority=request.priority,
            now=utc_now(),
            upload=Upload(
                upload_id=upload.upload_id,
                file_name=request.file_name,
                size=request.size,
                content_type=request.content_type,
                part_size=part_size,
                part_count=part_count,
            ),
        )
        key = f"uploads/{self.owner}/{job.job_id}/source"
        job = job.model_copy(update={"source": Source(bucket="fake-uploads", key=key)})
        upload.job_id = job.job_id
        with self._lock:
            self.jobs[job.job_id] = job
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

    def _job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None or job.owner != self.owner:
            raise NotFound(f"job {job_id} not found")
        return job

    def _upload(self, job: Job) -> FakeUpload:
        upload = self.uploads.get(job.job_id)
        if upload is None:
            raise Conflict(f"job {job.job_id} was not uploaded through the API")
        return upload

    def _uploading(self, job_id: str) -> FakeUpload:
        job = self._job(job_id)
        upload = self._upload(job)
        if job.status is not JobStatus.UPLOADING:
            raise Conflict(f"job {job_id} is {job.status}: its upload is no longer open")
        return upload

    def list_parts(self, job_id: str) -> Answer:
        upload = self._uploading(job_id)
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

    def presign_parts(self, job_id: str, request: PartNumbers) -> Answer:
        upload = self._uploading(job_id)
        for index, number in enumerate(request.part_numbers):
            if number > upload.part_count:
                raise InvalidInput(
                    f"part {number} does not exist: the upload has {upload.part_count} parts",
                    field=f"part_numbers[{index}]",
                )
        parts, expires_at = self._presign(job_id, sorted(set(request.part_numbers)))
        return 200, {"parts": parts, "expires_at": expires_at}

    def complete(self, job_id: str, request: CompleteUpload) -> Answer:
        with self._lock:
            job = self._job(job_id)
            if job.status is not JobStatus.UPLOADING:
                if job.status in {JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.COMPLETED} or job.queued_at:
                    return 200, _doc(job)  # completed before: a client whose answer was lost asks again
                raise Conflict(f"job {job_id} is {job.status}: the upload can no longer be completed")
            upload = self._upload(job)
            received = dict(upload.parts)
            if request.parts is None:
                chosen = sorted(received)
            else:
                chosen = [part.part_number for part in request.parts]
                if chosen != list(range(1, len(chosen) + 1)):
                    raise InvalidInput("parts must be numbered 1, 2, 3… in order, each once", field="parts")
            missing = [n for n in range(1, upload.part_count + 1) if n not in received]
            if missing or len(chosen) != upload.part_count:
                shown = ", ".join(map(str, missing[:20])) + ("…" if len(missing) > 20 else "")
                message = f"the upload is incomplete: parts {shown or '(unlisted)'} have not arrived"
                raise Conflict(message, field="parts")
            total = sum(len(data) for data, _ in received.values())
            if total != upload.size:
                raise Conflict(f"{total} bytes arrived but the upload declared {upload.size}", field="size")
            etags = (
                [(n, received[n][1]) for n in chosen]
                if request.parts is None
                else [(p.part_number, p.etag) for p in request.parts]
            )
            # What S3 checks as it assembles the object (as lambdas.api.memory.InMemoryUploadStore does).
            for index, (number, etag) in enumerate(etags):
                data, stored = received[number]
                if etag.strip('"') != stored.strip('"'):
                    rejected = "One or more of the specified parts could not be found."
                    raise Conflict(f"S3 refused the parts: {rejected}", field="parts")
                if index < len(etags) - 1 and len(data) < self.min_part_size:
                    rejected = "Your proposed upload is smaller than the minimum allowed size."
                    raise Conflict(f"S3 refused the parts: {rejected}", field="parts")
            upload.open = False
            self.objects[job.source.key] = b"".join(received[n][0] for n in chosen)
            source = job.source.model_copy(update={"size": total})
            job = self._put_job(job, status=JobStatus.QUEUED, queued_at=utc_now(), source=source)
        return 200, _doc(job)

    def abort(self, job_id: str) -> Answer:
        with self._lock:
            job = self._job(job_id)
            if job.status is not JobStatus.CANCELLED:
                if job.status is not JobStatus.UPLOADING:
                    raise Conflict(
                        f"job {job_id} is {job.status}: its upload is finished (DELETE /jobs/{job_id} cancels the job)"
                    )
                job = self._put_job(job, status=JobStatus.CANCELLED, completed_at=utc_now())
            if job_id in self.uploads and job.queued_at is None:
                self.uploads[job_id].open = False
        return 200, _doc(job)

    # -- jobs, as lambdas/api/jobs.py ------------------------------------------------------------------
    def get_job(self, job_id: str) -> Answer:
        return 200, _doc(self._advance(self._job(job_id)))

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

    def list_jobs(self, query: dict[str, list[str]]) -> Answer:
        # The parameters in the order the real route declares them: the first invalid one is answered.
        problems: Problems = []
        values: dict[str, Any] = {}
        for name, adapter in (("status", STATUS), ("limit", LIMIT), ("cursor", CURSOR)):
            if name in query:
                values[name], found = check(adapter, query[name][-1], ("query", name))
                problems += found
        if problems:
            return refusal(problems)
        status, limit, cursor = values.get("status"), values.get("limit", 20), values.get("cursor")
        jobs = sorted(
            (j for j in self.jobs.values() if j.owner == self.owner and (status is None or j.status == status)),
            key=_owner_order,
            reverse=True,
        )
        if cursor is not None:
            try:
                after = _decode_cursor(cursor, self.owner)
            except InvalidCursor:
                raise InvalidInput("cursor is not one this listing handed out", field="cursor") from None
            jobs = [j for j in jobs if _owner_order(j) < after]
        page = jobs[:limit]
        next_cursor = _encode_cursor(self.owner, page[-1]) if len(jobs) > limit else None
        return 200, {"jobs": [_doc(j) for j in page], "next_cursor": next_cursor}

    def cancel_job(self, job_id: str) -> Answer:
        with self._lock:
            job = self._job(job_id)
            if job.status is not JobStatus.CANCELLED:
                if job.status.terminal:
                    raise Conflict(f"job {job_id} is {job.status}: only unfinished jobs can be cancelled")
                job = self._put_job(job, status=JobStatus.CANCELLED, completed_at=utc_now())
            if job_id in self.uploads and job.queued_at is None:
                self.uploads[job_id].open = False
        return 200, _doc(job)

    def retry_job(self, job_id: str) -> Answer:
        with self._lock:
            job = self._job(job_id)
            try:
                queued = retry(job, utc_now())  # the real rule: FAILED or CANCELLED, queued once, retries left
            except RetryLimitReached:
                raise Conflict(f"job {job_id} was already retried {job.max_retries} times") from None
            except IllegalTransition as exc:
                raise Conflict(str(exc)) from None
            self.jobs[job_id] = queued
        return 202, _doc(queued)

    def events(self, job_id: str) -> Answer:
        job = self._job(job_id)
        event = {"time": _doc(job)["created_at"], "step": "registered", "kind": "info", "message": "upload started"}
        return 200, {"events": [event]}

    def stats(self, query: dict[str, list[str]]) -> Answer:
        """As lambdas/api/app.py: window_hours a whole number of hours in 1..720 (422 otherwise), the answer
        the real `compute_stats` gives over the caller's jobs."""
        hours = query_value(query, "window_hours", WINDOW_HOURS, 24)
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
    """A job as the API answers it (no execution ARN)."""
    return public_job(job).model_dump(mode="json")


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

        def do_PATCH(self) -> None:
            self._api("PATCH")

        def _api(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length) if length else b""
            if not url.path.startswith(PREFIX + "/"):
                return self._json(404, {"message": "Not Found"})
            if self.headers.get("Authorization") != f"Bearer {api.token}":
                return self._json(401, {"message": "Unauthorized"})  # what API Gateway's authorizer answers
            path, query = url.path[len(PREFIX) :], parse_qs(url.query)
            status, document = api.answer(method, path, raw, query, self.headers.get("Content-Type", ""))
            return self._json(status, document)

        def _json(self, status: int, document: dict[str, Any]) -> None:
            _send(self, status, json.dumps(document).encode(), {"Content-Type": "application/json"})

    return Handler
