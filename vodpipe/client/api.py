"""The vodpipe REST API over HTTP: one method per route, the server's errors as ApiError, retries on network faults."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from http import HTTPStatus
from typing import Any, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vodpipe.client.errors import ApiError, TransportError

Json = dict[str, Any]
# Worth another try on an idempotent call; 4xx (other than throttling) is the caller's problem.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "vodpipe-cli/0.1"
# A long-poll's read timeout: the server's wait, plus this for the answer to arrive.
LONG_POLL_MARGIN_S = 10.0
# A Retry-After up to this is waited out before the next attempt (an idempotent call); a longer one ends the call.
MAX_RETRY_AFTER_S = 30.0


class _Response(BaseModel):
    # The server may add fields; the client reads only what the contract promises.
    model_config = ConfigDict(extra="ignore", frozen=True)


class PartUrl(_Response):
    part_number: int = Field(ge=1, le=10_000)
    url: str


class StoredPart(_Response):
    part_number: int = Field(ge=1, le=10_000)
    etag: str
    size: int = Field(ge=0)


class UploadSession(_Response):
    """POST /uploads → 201."""

    job: Json
    upload_id: str
    key: str
    part_size: int = Field(ge=1)
    part_count: int = Field(ge=1, le=10_000)
    parts: tuple[PartUrl, ...] = ()
    expires_at: datetime | None = None


class PartList(_Response):
    """GET /uploads/{job_id}/parts: what S3 already holds."""

    job_id: str
    upload_id: str
    part_size: int = Field(ge=1)
    part_count: int = Field(ge=1, le=10_000)
    parts: tuple[StoredPart, ...] = ()


class PartUrls(_Response):
    """POST /uploads/{job_id}/parts."""

    parts: tuple[PartUrl, ...]
    expires_at: datetime | None = None


class ApiClient:
    """A thread-safe client for one API base URL and bearer token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        attempts: int = 4,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.attempts = attempts
        self.backoff = backoff
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            headers={"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT, "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )
        self._sleeper = threading.Event()  # never set: an interruptible, testable sleep

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- uploads --------------------------------------------------------------------------------------
    def create_upload(
        self,
        *,
        file_name: str,
        size: int,
        content_type: str | None = None,
        priority: int | None = None,
        renditions: Sequence[str] | None = None,
        outputs: Sequence[str] | None = None,
        part_size: int | None = None,
        preset: str | None = None,
        fit: str | None = None,
        mp4_renditions: Sequence[str] | None = None,
        loudnorm: bool | None = None,
        private: bool | None = None,
        clip: Json | None = None,
    ) -> UploadSession:
        body: Json = {"file_name": file_name, "size": size}
        optional = {
            "content_type": content_type,
            "priority": priority,
            "renditions": list(renditions) if renditions is not None else None,
            "outputs": list(outputs) if outputs is not None else None,
            "part_size": part_size,
            "preset": preset,
            "fit": fit,
            "mp4_renditions": list(mp4_renditions) if mp4_renditions is not None else None,
            "loudnorm": loudnorm,
            "private": private,
            "clip": clip,
        }
        body |= {k: v for k, v in optional.items() if v is not None}
        # Not idempotent: a retry after the request went out could create a second job.
        return _parse(UploadSession, self._call("POST", "uploads", json=body, idempotent=False))

    def list_parts(self, job_id: str) -> PartList:
        return _parse(PartList, self._call("GET", f"uploads/{job_id}/parts"))

    def presign_parts(self, job_id: str, part_numbers: Sequence[int]) -> PartUrls:
        body = {"part_numbers": list(part_numbers)}
        return _parse(PartUrls, self._call("POST", f"uploads/{job_id}/parts", json=body))

    def complete_upload(self, job_id: str, parts: Sequence[tuple[int, str]] | None = None) -> Json:
        body: Json = {} if parts is None else {"parts": [{"part_number": n, "etag": e} for n, e in parts]}
        return self._call("POST", f"uploads/{job_id}/complete", json=body)

    def abort_upload(self, job_id: str) -> Json:
        return self._call("DELETE", f"uploads/{job_id}")

    # -- jobs -----------------------------------------------------------------------------------------
    def get_job(self, job_id: str) -> Json:
        return self._call("GET", f"jobs/{job_id}")

    def wait_for_change(
        self, job_id: str, version: int | None = None, wait_s: float | None = None, etag: str | None = None
    ) -> tuple[Json | None, str | None]:
        """GET /jobs/{job_id}, a long-poll with `wait_s` (1 to 25 s): answered once the job's `revision` passes
        `version`, or after `wait_s` as it is. With `etag` (the `ETag` of an earlier answer) an unchanged job
        answers 304: (None, etag). Returns the job and the answer's ETag (None from an API without them)."""
        params: Json = {}
        if wait_s is not None:
            params["wait"] = wait_s
            if version is not None:
                params["version"] = version
        headers = {"If-None-Match": etag} if etag else None
        # The server holds the request up to `wait_s`: the read timeout must outlast it.
        timeout = None if wait_s is None else max(self._http.timeout.read or 0.0, wait_s + LONG_POLL_MARGIN_S)
        response = self._send("GET", f"jobs/{job_id}", params=params, headers=headers, timeout=timeout)
        tag = response.headers.get("ETag") or None
        if response.status_code == HTTPStatus.NOT_MODIFIED:
            return None, tag or etag
        return _json_body(response), tag

    def list_jobs(self, *, status: str | None = None, limit: int | None = None, cursor: str | None = None) -> Json:
        params = {k: v for k, v in {"status": status, "limit": limit, "cursor": cursor}.items() if v is not None}
        return self._call("GET", "jobs", params=params)

    def cancel_job(self, job_id: str) -> Json:
        return self._call("DELETE", f"jobs/{job_id}")

    def retry_job(self, job_id: str) -> Json:
        return self._call("POST", f"jobs/{job_id}/retry", json={})

    def job_events(self, job_id: str) -> Json:
        return self._call("GET", f"jobs/{job_id}/events")

    def stats(self, window_hours: int | None = None) -> Json:
        """GET /stats: the server's QueueStats over the last `window_hours` (whole hours, 1 to 720; server: 24)."""
        params = {} if window_hours is None else {"window_hours": window_hours}
        return self._call("GET", "stats", params=params)

    def set_priority(self, job_id: str, priority: int) -> Json:
        """PATCH /jobs/{job_id}: a waiting job's new priority (1 most urgent .. 10), within the token's tier."""
        return self._call("PATCH", f"jobs/{job_id}", json={"priority": priority})

    # -- webhooks -------------------------------------------------------------------------------------
    def create_webhook(self, url: str, events: Sequence[str] | None = None, description: str | None = None) -> Json:
        """POST /webhooks: `{"webhook", "secret"}`; the signing secret is in this answer only (and on rotation)."""
        body: Json = {"url": url}
        if events:
            body["events"] = list(events)
        if description is not None:
            body["description"] = description
        # Not idempotent: a retry after the request went out could register the endpoint twice.
        return self._call("POST", "webhooks", json=body, idempotent=False)

    def list_webhooks(self) -> Json:
        return self._call("GET", "webhooks")

    def get_webhook(self, webhook_id: str) -> Json:
        return self._call("GET", f"webhooks/{webhook_id}")

    def enable_webhook(self, webhook_id: str) -> Json:
        """POST /webhooks/{id}/enable: a disabled endpoint (410 Gone, failing for days) takes deliveries again."""
        return self._call("POST", f"webhooks/{webhook_id}/enable", json={})

    def delete_webhook(self, webhook_id: str) -> None:
        self._call("DELETE", f"webhooks/{webhook_id}")

    def rotate_webhook_secret(self, webhook_id: str) -> Json:
        """`{"webhook", "secret", "previous_secret_expires_at"}`: the old secret still signs until then."""
        # Not idempotent: a second rotation would cut the validity of the secret the first one replaced.
        return self._call("POST", f"webhooks/{webhook_id}/rotate-secret", json={}, idempotent=False)

    def test_webhook(self, webhook_id: str) -> Json:
        """POST /webhooks/{id}/test → 202 `{"delivery"}`: a webhook.test event on its way to the endpoint."""
        return self._call("POST", f"webhooks/{webhook_id}/test", json={}, idempotent=False)

    def webhook_deliveries(self, webhook_id: str, *, limit: int | None = None, cursor: str | None = None) -> Json:
        """`{"deliveries", "next_cursor"}`, newest first."""
        params = {k: v for k, v in {"limit": limit, "cursor": cursor}.items() if v is not None}
        return self._call("GET", f"webhooks/{webhook_id}/deliveries", params=params)

    def replay_delivery(self, webhook_id: str, delivery_id: str) -> Json:
        """POST …/deliveries/{delivery_id}/replay → 202 `{"delivery"}`: the same message (same id), a new round."""
        path = f"webhooks/{webhook_id}/deliveries/{delivery_id}/replay"
        return self._call("POST", path, json={}, idempotent=False)

    # -- operators (admin tokens) ---------------------------------------------------------------------
    def admin_queue(self, window_minutes: int | None = None) -> Json:
        """GET /admin/queue: the whole queue, rates and waits over the last `window_minutes` (server: 60)."""
        params = {} if window_minutes is None else {"window_minutes": window_minutes}
        return self._call("GET", "admin/queue", params=params)

    def health(self) -> Json:
        """GET /health: the deployment's state, "ok" or "degraded" with the problems found."""
        return self._call("GET", "health")

    # -- presets and downloads (vodpipe/client/downloads.py) -------------------------------------------
    def list_presets(self) -> Json:
        """GET /presets: the deployment's presets."""
        return self._call("GET", "presets")

    def list_downloads(self, job_id: str) -> Json:
        """GET /jobs/{id}/downloads."""
        return self._call("GET", f"jobs/{job_id}/downloads")

    def get_download(self, job_id: str, name: str) -> Json:
        """GET /jobs/{id}/downloads/{name}: a short-lived link that saves the file."""
        return self._call("GET", f"jobs/{job_id}/downloads/{name}")

    # -- clips (vodpipe/client/clips.py) -----------------------------------------------------------------
    def create_clip(self, job_id: str, body: Json) -> Json:
        """POST /jobs/{id}/clips → 201 with the clip job (QUEUED)."""
        # Not idempotent: a retry after the request went out would make a second clip job.
        return self._call("POST", f"jobs/{job_id}/clips", json=body, idempotent=False)

    # -- captions (vodpipe/client/captions.py) ------------------------------------------------------------
    def create_caption(
        self, job_id: str, language: str, *, label: str | None = None, file_format: str = "vtt", default: bool = False
    ) -> Json:
        """POST /jobs/{id}/captions → 201 `{"caption", "upload_url", "expires_at"}`: PUT the file there."""
        body: Json = {"language": language, "format": file_format, "default": default}
        if label is not None:
            body["label"] = label
        # Not idempotent: a retry after the request went out would add a second pending caption.
        return self._call("POST", f"jobs/{job_id}/captions", json=body, idempotent=False)

    def complete_caption(self, job_id: str, caption_id: str) -> Json:
        """POST …/captions/{caption_id}/complete: the caption, ready (422 `file` names the line at fault)."""
        return self._call("POST", f"jobs/{job_id}/captions/{caption_id}/complete", json={})

    def list_captions(self, job_id: str) -> Json:
        return self._call("GET", f"jobs/{job_id}/captions")

    def delete_caption(self, job_id: str, caption_id: str) -> None:
        self._call("DELETE", f"jobs/{job_id}/captions/{caption_id}")

    # -- plumbing -------------------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Json | None = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool = True,
    ) -> Json:
        response = self._send(method, path, json=json, params=params, idempotent=idempotent)
        return {} if response.status_code == HTTPStatus.NO_CONTENT else _json_body(response)

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Json | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """The answer to a request, 2xx or 304; retried on network faults and throttling; ApiError otherwise."""
        extra: Json = {} if timeout is None else {"timeout": timeout}
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            asked: float | None = None  # the server's Retry-After, honoured in place of the backoff
            try:
                response = self._http.request(method, path, json=json, params=params, headers=headers, **extra)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing reached the server: safe to repeat even a non-idempotent call.
                if last:
                    raise TransportError(f"cannot reach {self.base_url}: {exc}") from exc
            except httpx.TransportError as exc:
                if last or not idempotent:
                    raise TransportError(f"{method} {path} failed: {exc!r}") from exc
            else:
                retry = response.status_code in RETRY_STATUSES and idempotent and not last
                asked = retry_after_s(response) if retry else None
                if asked is not None and asked > MAX_RETRY_AFTER_S:
                    retry = False  # a quota's window is not waited out inside one call: the caller sees the 429
                if retry:
                    pass
                elif response.is_success or response.status_code == HTTPStatus.NOT_MODIFIED:
                    return response
                else:
                    raise api_error(response)
            self._sleeper.wait(backoff_delay(self.backoff, attempt) if asked is None else asked)
        raise AssertionError("unreachable")  # pragma: no cover


def retry_after_s(response: httpx.Response) -> float | None:
    """The answer's Retry-After in seconds (a 429 or 503 of the API says when to ask again); None when absent or not
    a number of seconds (an HTTP date is not sent by the API)."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def backoff_delay(base: float, attempt: int, cap: float = 10.0) -> float:
    """Exponential backoff with full jitter (attempt counts from 1)."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))  # noqa: S311


def api_error(response: httpx.Response) -> ApiError:
    """The server's `{"error", "message", "field"}`; API Gateway's own answers (`{"message"}`) too."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = body.get("message") or body.get("Message") or response.reason_phrase
        error = body.get("error") or _default_error(response.status_code)
        field = body.get("field")
        return ApiError(response.status_code, str(error), str(message), str(field) if field else None)
    text = response.text.strip().splitlines()[0][:200] if response.text.strip() else response.reason_phrase
    return ApiError(response.status_code, _default_error(response.status_code), text)


def _default_error(status: int) -> str:
    return {401: "unauthorized", 403: "forbidden", 404: "not_found", 429: "throttled"}.get(status, f"http_{status}")


def _json_body(response: httpx.Response) -> Json:
    try:
        body = response.json()
    except ValueError as exc:
        raise ApiError(response.status_code, "invalid_response", f"the API answered non-JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(response.status_code, "invalid_response", "the API answered JSON that is not an object")
    return body


def _parse[M: BaseModel](model: type[M], body: Json) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ApiError(200, "invalid_response", f"unexpected API answer: {where}: {first['msg']}") from exc
