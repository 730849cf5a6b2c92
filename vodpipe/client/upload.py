"""The resumable multipart upload: parallel part PUTs to presigned URLs, resumed from what S3 already holds."""

from __future__ import annotations

import contextlib
import mimetypes
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from vodpipe.client.api import RETRY_STATUSES, ApiClient, Json, PartList, backoff_delay
from vodpipe.client.errors import ApiError, PartUploadFailed, TransportError, UploadInterrupted
from vodpipe.client.resume import Fingerprint, ResumeRecord, ResumeStore

MiB = 1 << 20
CHUNK = 256 * 1024
URL_BATCH = 100  # the most part URLs one POST /uploads/{id}/parts hands out
URL_MARGIN = timedelta(seconds=60)  # re-presign a URL this close to its expiry rather than risk a 403


def _ignore(*_: object) -> None:
    return None


@dataclass(frozen=True)
class UploadRequest:
    """What the user asked for; None leaves the choice to the server."""

    priority: int | None = None
    renditions: tuple[str, ...] | None = None
    outputs: tuple[str, ...] | None = None
    part_size: int | None = None
    content_type: str | None = None
    preset: str | None = None
    fit: str | None = None
    mp4_renditions: tuple[str, ...] | None = None
    loudnorm: bool | None = None
    private: bool | None = None
    clip: dict[str, Any] | None = None  # {start_s, end_s, mode}: make only this range of the upload

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class UploadPlan:
    """What is about to happen, for progress displays."""

    job_id: str
    resumed: bool
    size: int
    part_size: int
    part_count: int
    parts_stored: int  # already in S3 before this run
    bytes_stored: int


@dataclass
class UploadHooks:
    """Callbacks from the engine (called from worker threads: keep them quick and thread-safe)."""

    on_plan: Callable[[UploadPlan], None] = _ignore
    on_bytes: Callable[[int], None] = _ignore  # negative when a failed attempt's bytes are taken back
    on_part: Callable[[int], None] = _ignore  # part number now stored in S3
    on_notice: Callable[[str], None] = _ignore  # retries, resume decisions


@dataclass(frozen=True)
class UploadResult:
    job: Json  # as `complete` returned it (QUEUED), or as the server has it when it was completed before
    job_id: str
    resumed: bool
    size: int
    part_size: int
    part_count: int
    parts_uploaded: int
    parts_skipped: int
    bytes_uploaded: int
    seconds: float  # spent uploading parts
    part_retries: int

    @property
    def mib_per_s(self) -> float:
        return self.bytes_uploaded / MiB / self.seconds if self.seconds > 0 else 0.0

    def document(self) -> dict[str, Any]:
        summary = {k: v for k, v in asdict(self).items() if k != "job"}
        return summary | {"throughput_mib_s": round(self.mib_per_s, 2), "seconds": round(self.seconds, 3)}


@dataclass
class _Session:
    job_id: str
    upload_id: str
    size: int
    part_size: int
    part_count: int
    resumed: bool
    job: Json | None = None
    etags: dict[int, str] = field(default_factory=dict)  # parts stored so far
    completed: bool = False  # an earlier run completed the upload and lost its record before noting it

    def part_length(self, number: int) -> int:
        return min(self.part_size, self.size - (number - 1) * self.part_size)


class _Stopped(Exception):
    """Raised inside a part body to abandon the request when the upload is being stopped."""


class _ExpiredUrl(Exception):
    """Storage answered 403 to a part PUT."""


class _Retryable(Exception):
    """A network fault or a 5xx/429 from storage: worth another attempt after a pause."""


class _UrlBook:
    """Presigned part URLs, fetched in batches of up to 100 and renewed before they expire."""

    def __init__(self, api: ApiClient, job_id: str, wanted: Sequence[int]) -> None:
        self._api = api
        self._job_id = job_id
        self._wanted = sorted(wanted)
        self._urls: dict[int, tuple[str, datetime | None]] = {}
        self._lock = threading.Lock()

    def add(self, parts: Sequence[Any], expires_at: datetime | None) -> None:
        for part in parts:
            self._urls[part.part_number] = (part.url, expires_at)

    def invalidate(self, number: int) -> None:
        with self._lock:
            self._urls.pop(number, None)

    def _valid(self, number: int, now: datetime) -> bool:
        entry = self._urls.get(number)
        return entry is not None and (entry[1] is None or entry[1] - URL_MARGIN > now)

    def get(self, number: int) -> str:
        with self._lock:
            now = datetime.now(UTC)
            if not self._valid(number, now):
                batch = [number] + [n for n in self._wanted if n > number and not self._valid(n, now)]
                answer = self._api.presign_parts(self._job_id, batch[:URL_BATCH])
                self.add(answer.parts, answer.expires_at)
                if number not in self._urls:
                    raise PartUploadFailed(f"the API returned no URL for part {number}")
            return self._urls[number][0]


class Uploader:
    """Uploads one file per `upload()` call; safe to run again on the same file to resume."""

    def __init__(
        self,
        api: ApiClient,
        store: ResumeStore,
        *,
        parallel: int = 4,
        part_attempts: int = 6,
        backoff: float = 0.5,
        part_timeout: float = 120.0,
        hooks: UploadHooks | None = None,
        stop: threading.Event | None = None,
        part_transport: httpx.BaseTransport | None = None,
    ) -> None:
        if parallel < 1:
            raise ValueError("parallel must be at least 1")
        self.api = api
        self.store = store
        self.parallel = parallel
        self.part_attempts = part_attempts
        self.backoff = backoff
        self.hooks = hooks or UploadHooks()
        # Set by the caller (or the Ctrl-C handler) to stop after the parts in flight; the upload stays resumable.
        self.stop = stop or threading.Event()
        self._part_timeout = part_timeout
        self._part_transport = part_transport
        self._abort = threading.Event()
        self._lock = threading.Lock()
        self._retries = 0
        self._bytes_uploaded = 0

    # -- the whole upload -----------------------------------------------------------------------------
    def upload(self, path: Path, request: UploadRequest | None = None) -> UploadResult:
        # A reused Uploader starts each upload afresh: an earlier failure must not stop this one's parts,
        # and the result counts only this upload's retries and bytes.
        self._abort.clear()
        self._retries = 0
        self._bytes_uploaded = 0
        request = request or UploadRequest()
        path = path.resolve()
        fingerprint = Fingerprint.of(path)
        if fingerprint.size == 0:
            raise PartUploadFailed(f"{path} is empty")
        session = self._resume(path, fingerprint, request)
        if session is not None and session.completed:
            return self._result(session.job or {}, session, 0, 0.0)
        if session is None:
            session = self._start(path, fingerprint, request)
        missing = [n for n in range(1, session.part_count + 1) if n not in session.etags]
        self.hooks.on_plan(
            UploadPlan(
                job_id=session.job_id,
                resumed=session.resumed,
                size=session.size,
                part_size=session.part_size,
                part_count=session.part_count,
                parts_stored=len(session.etags),
                bytes_stored=sum(session.part_length(n) for n in session.etags),
            )
        )
        started = time.monotonic()
        uploaded = self._upload_parts(path, session, missing) if missing else 0
        seconds = time.monotonic() - started
        job = self._complete(session)
        self.store.delete(path, self.api.base_url)
        return self._result(job, session, uploaded, seconds)

    def _result(self, job: Json, session: _Session, uploaded: int, seconds: float) -> UploadResult:
        return UploadResult(
            job=job,
            job_id=session.job_id,
            resumed=session.resumed,
            size=session.size,
            part_size=session.part_size,
            part_count=session.part_count,
            parts_uploaded=uploaded,
            parts_skipped=session.part_count - uploaded,
            bytes_uploaded=self._bytes_uploaded,
            seconds=seconds,
            part_retries=self._retries,
        )

    # -- start or resume ------------------------------------------------------------------------------
    def _start(self, path: Path, fingerprint: Fingerprint, request: UploadRequest) -> _Session:
        content_type = request.content_type or mimetypes.guess_type(path.name)[0]
        created = self.api.create_upload(
            file_name=path.name,
            size=fingerprint.size,
            content_type=content_type,
            priority=request.priority,
            renditions=request.renditions,
            outputs=request.outputs,
            part_size=request.part_size,
            preset=request.preset,
            fit=request.fit,
            mp4_renditions=request.mp4_renditions,
            loudnorm=request.loudnorm,
            private=request.private,
            clip=request.clip,
        )
        job_id = str(created.job["job_id"])
        # Written before the first byte goes out: from here on, running the command again resumes.
        self.store.save(
            ResumeRecord(
                path=str(path),
                api_url=self.api.base_url,
                job_id=job_id,
                fingerprint=fingerprint,
                part_size=created.part_size,
                part_count=created.part_count,
                request=request.as_dict(),
            )
        )
        session = _Session(
            job_id=job_id,
            upload_id=created.upload_id,
            size=fingerprint.size,
            part_size=created.part_size,
            part_count=created.part_count,
            resumed=False,
            job=created.job,
        )
        self._urls = _UrlBook(self.api, job_id, range(1, created.part_count + 1))
        self._urls.add(created.parts, created.expires_at)
        return session

    def _resume(self, path: Path, fingerprint: Fingerprint, request: UploadRequest) -> _Session | None:
        """The session to continue (possibly one already completed), or None to start afresh."""
        record = self.store.load(path, self.api.base_url)
        if record is None:
            return None
        if record.fingerprint != fingerprint or record.request != request.as_dict():
            why = "the file changed" if record.fingerprint != fingerprint else "the options differ"
            self.hooks.on_notice(f"not resuming job {record.job_id}: {why}; starting a new upload")
            self._abandon(record.job_id)
            self.store.delete(path, self.api.base_url)
            return None
        try:
            listing = self.api.list_parts(record.job_id)
        except ApiError as exc:
            if exc.status not in (404, 409, 410):
                raise
            return self._settled(path, record, fingerprint.size)
        if (listing.part_size, listing.part_count) != (record.part_size, record.part_count):
            self.hooks.on_notice(f"not resuming job {record.job_id}: its part layout changed; starting afresh")
            self._abandon(record.job_id)
            self.store.delete(path, self.api.base_url)
            return None
        session = _Session(
            job_id=record.job_id,
            upload_id=listing.upload_id,
            size=fingerprint.size,
            part_size=listing.part_size,
            part_count=listing.part_count,
            resumed=True,
        )
        session.etags = _usable_parts(listing, session)
        self.hooks.on_notice(
            f"resuming job {record.job_id}: {len(session.etags)}/{session.part_count} parts already stored"
        )
        missing = [n for n in range(1, session.part_count + 1) if n not in session.etags]
        self._urls = _UrlBook(self.api, record.job_id, missing)
        return session

    def _settled(self, path: Path, record: ResumeRecord, size: int) -> _Session | None:
        """The upload of a recorded job is no longer open: completed earlier (return the job) or gone."""
        try:
            job = self.api.get_job(record.job_id)
        except ApiError as exc:
            if exc.status != 404:
                raise
            job = {}
        self.store.delete(path, self.api.base_url)
        if job.get("status") not in (None, "UPLOADING", "CANCELLED"):
            self.hooks.on_notice(f"job {record.job_id} was already uploaded ({job['status']})")
            return _Session(
                job_id=record.job_id,
                upload_id="",
                size=size,
                part_size=record.part_size,
                part_count=record.part_count,
                resumed=True,
                job=job,
                completed=True,
            )
        self.hooks.on_notice(f"job {record.job_id} can no longer be resumed; starting a new upload")
        return None

    def _abandon(self, job_id: str) -> None:
        # Best effort: an upload nobody will finish would otherwise hold its parts until S3's lifecycle rule.
        with contextlib.suppress(ApiError, TransportError):
            self.api.abort_upload(job_id)

    # -- parts ----------------------------------------------------------------------------------------
    def _upload_parts(self, path: Path, session: _Session, missing: Sequence[int]) -> int:
        uploaded = 0
        failure: BaseException | None = None
        interrupted = False
        limits = httpx.Limits(max_connections=self.parallel * 2, max_keepalive_connections=self.parallel)
        timeout = httpx.Timeout(self._part_timeout, connect=10.0)
        fd = os.open(path, os.O_RDONLY)
        with (
            httpx.Client(timeout=timeout, limits=limits, transport=self._part_transport) as http,
            ThreadPoolExecutor(max_workers=min(self.parallel, len(missing)), thread_name_prefix="part") as pool,
        ):
            futures: dict[Future[str | None], int] = {pool.submit(self._part, http, fd, session, n): n for n in missing}
            pending = set(futures)
            try:
                while pending:
                    done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                    for future in done:
                        exc = future.exception()
                        if exc is not None:
                            failure = failure or exc
                            self._abort.set()
                            continue
                        etag = future.result()
                        if etag is not None:
                            session.etags[futures[future]] = etag
                            uploaded += 1
            except KeyboardInterrupt:
                interrupted = True
                self.stop.set()
                for future in futures:
                    future.cancel()
                # Said once no further part can start: what is still running is all there is to wait for.
                running = sum(not future.done() for future in futures)
                self.hooks.on_notice(f"interrupted: stopping after the {running} part(s) in flight")
                wait(futures)
                for future, number in futures.items():
                    if not future.cancelled() and future.exception() is None and future.result() is not None:
                        session.etags.setdefault(number, str(future.result()))
            finally:
                os.close(fd)
        if failure is not None:
            raise failure
        if interrupted or len(session.etags) < session.part_count:
            raise UploadInterrupted(session.job_id, len(session.etags), session.part_count)
        return uploaded

    def _stopping(self) -> bool:
        return self.stop.is_set() or self._abort.is_set()

    def _part(self, http: httpx.Client, fd: int, session: _Session, number: int) -> str | None:
        """PUT one part, retrying network faults with backoff; its ETag, or None when stopped first."""
        if self._stopping():
            return None
        length = session.part_length(number)
        data = os.pread(fd, length, (number - 1) * session.part_size)
        if len(data) != length:
            raise PartUploadFailed(f"part {number}: the file is shorter than when the upload started")
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                etag = self._put(http, self._urls.get(number), data, number)
            except _Stopped:
                return None
            except _ExpiredUrl:
                if renewed:
                    raise PartUploadFailed(f"part {number}: storage refused a fresh URL (HTTP 403)") from None
                # Most likely an expired URL (a long pause or a resumed upload): presign again, once.
                renewed = True
                self._urls.invalidate(number)
                attempt -= 1
                continue
            except _Retryable as exc:
                problem = str(exc)
            else:
                # Here, in the worker, so that a stop requested from this hook comes before the next part starts.
                self.hooks.on_part(number)
                return etag
            if attempt >= self.part_attempts:
                raise PartUploadFailed(f"part {number}: gave up after {attempt} attempts ({problem})")
            delay = backoff_delay(self.backoff, attempt)
            with self._lock:
                self._retries += 1
            self.hooks.on_notice(f"part {number}: {problem}; retrying in {delay:.1f} s")
            if self.stop.wait(delay) or self._abort.is_set():
                return None

    def _put(self, http: httpx.Client, url: str, data: bytes, number: int) -> str:
        """One attempt; the ETag, or an exception saying what to do next. Progress is taken back on failure."""
        sent = 0

        def body() -> Iterator[bytes]:
            nonlocal sent
            for start in range(0, len(data), CHUNK):
                if self._stopping():
                    raise _Stopped
                piece = data[start : start + CHUNK]
                yield piece
                sent += len(piece)
                self.hooks.on_bytes(len(piece))

        try:
            response = http.put(url, content=body(), headers={"Content-Length": str(len(data))})
        except _Stopped:
            self.hooks.on_bytes(-sent)
            raise
        except httpx.TransportError as exc:
            self.hooks.on_bytes(-sent)
            raise _Retryable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc
        if not response.is_success:
            self.hooks.on_bytes(-sent)
            if response.status_code == 403:
                raise _ExpiredUrl
            if response.status_code in RETRY_STATUSES:
                raise _Retryable(f"HTTP {response.status_code}")
            raise PartUploadFailed(f"part {number}: HTTP {response.status_code} from storage: {response.text[:300]}")
        etag: str | None = response.headers.get("ETag")  # httpx types Headers.get as Any
        if not etag:
            raise PartUploadFailed(f"part {number}: the storage answered without an ETag")
        with self._lock:
            self._bytes_uploaded += len(data)
        return etag

    # -- complete -------------------------------------------------------------------------------------
    def _complete(self, session: _Session) -> Json:
        parts = sorted(session.etags.items())
        try:
            return self.api.complete_upload(session.job_id, parts)
        except ApiError as exc:
            # A retried complete whose first attempt went through: the job has moved on.
            if exc.status not in (404, 409):
                raise
            job = self.api.get_job(session.job_id)
            if job.get("status") in ("UPLOADING", "CANCELLED", None):
                raise
            return job


def _usable_parts(listing: PartList, session: _Session) -> dict[int, str]:
    """Parts S3 holds whole (the right size for their position); anything else is uploaded again."""
    return {
        p.part_number: p.etag
        for p in listing.parts
        if p.part_number <= session.part_count and p.size == session.part_length(p.part_number)
    }
