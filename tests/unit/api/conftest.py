"""API unit fixtures: the resolver wired to in-memory fakes, and a client that speaks API Gateway's proxy events."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from lambdas.api.captions import CaptionConfig, CaptionService
from lambdas.api.clips import ClipService
from lambdas.api.config import ApiConfig
from lambdas.api.downloads import DownloadService
from lambdas.api.jobs import JobService
from lambdas.api.models import CreateUpload, UploadCreated
from lambdas.api.operators import OperatorService
from lambdas.api.owner import Caller
from lambdas.api.routes import ApiRoutes, ApiServices
from lambdas.api.uploads import UploadService
from lambdas.auth.identity import Identity, Role
from lambdas.auth.tokens import authenticate
from lambdas.jobs.model import Job, JobEvent, JobStatus, JobStep
from lambdas.media.presets import Preset
from lambdas.playback.service import PrivatePlayback
from lambdas.queue.config import QueueConfig
from lambdas.queue.scheduler import Scheduler
from lambdas.webhooks.config import WebhookConfig
from lambdas.webhooks.service import WebhookService
from tests.fakes.api import InMemoryUploadStore, InMemoryWorkflow
from tests.fakes.auth import InMemoryTokenStore
from tests.fakes.captions import InMemoryCaptionFiles
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.queue import CountedDeadLetters, InMemoryQueueStore, SchedulerSignals
from tests.fakes.quotas import InMemoryQuotaStore
from tests.fakes.storage import DirectoryMediaStore, RecordingDownloadLinks
from tests.fakes.webhooks import InMemoryWebhookStore, RecordingDeliveryQueue, public_resolver

UPLOADS, OUTPUTS = "vodpipe-uploads", "vodpipe-outputs"
ALICE, BOB = "alice", "bob"
OPS, CAROL = "ops", "carol"  # an admin; a user whose tier allows priority 4 to 10 only
TOKENS = {
    ALICE: "alice-token-0123456789abcdef",
    BOB: "bob-token-0123456789abcdef0",
    OPS: "ops-token-0123456789abcdef01",
    CAROL: "carol-token-0123456789abcdef",
}
IDENTITIES = {
    ALICE: Identity(owner=ALICE),
    BOB: Identity(owner=BOB),
    OPS: Identity(owner=OPS, role=Role.ADMIN),
    CAROL: Identity(owner=CAROL, max_priority=4),
}
MIB = 2**20
MAX_UPLOAD = 100 * MIB
CAPTION_CONFIG = CaptionConfig(
    uploads_bucket=UPLOADS, outputs_bucket=OUTPUTS, playback_base_url="https://cdn.example.com"
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FlakyJobRepository(InMemoryJobRepository):
    """The in-memory repository with failures on order: `fail_next["append_event"].append(error)` makes the next
    call of `append_event` raise `error` (RepositoryUnavailable is what the DynamoDB adapter raises when throttled
    or unreachable). Only the caller's calls fail, not the ones the repository makes to itself."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock=clock)
        self.fail_next: dict[str, list[Exception]] = {}
        self._depth = 0

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        failures = self.fail_next.get(name)
        if self._depth == 0 and failures:
            raise failures.pop(0)
        self._depth += 1
        try:
            return getattr(super(), name)(*args, **kwargs)
        finally:
            self._depth -= 1

    def create(self, job: Job) -> None:
        self._call("create", job)

    def get(self, job_id: str) -> Job:
        return cast(Job, self._call("get", job_id))

    def get_for_owner(self, owner: str, job_id: str) -> Job:
        return cast(Job, self._call("get_for_owner", owner, job_id))

    def save_transition(self, job_before: Job, job_after: Job) -> Job:
        return cast(Job, self._call("save_transition", job_before, job_after))

    def update_progress(
        self,
        job_id: str,
        step: JobStep,
        percent: int,
        rendition: str | None = None,
        *,
        eta_at: datetime | None = None,
    ) -> bool:
        return bool(self._call("update_progress", job_id, step, percent, rendition, eta_at=eta_at))

    def record_work_done(self, job_id: str, attempt: int, item_id: str) -> frozenset[str]:
        return cast(frozenset[str], self._call("record_work_done", job_id, attempt, item_id))

    def work_done(self, job_id: str, attempt: int) -> frozenset[str]:
        return cast(frozenset[str], self._call("work_done", job_id, attempt))

    def mark_playable(self, job_id: str, segments: int, url: str) -> bool:
        return bool(self._call("mark_playable", job_id, segments, url))

    def append_event(self, job_id: str, event: JobEvent) -> None:
        self._call("append_event", job_id, event)

    def list_events(self, job_id: str) -> list[JobEvent]:
        return cast(list[JobEvent], self._call("list_events", job_id))

    def list_for_owner(
        self, owner: str, status: JobStatus | None = None, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[Job], str | None]:
        return cast(tuple[list[Job], str | None], self._call("list_for_owner", owner, status, limit, cursor))

    def list_by_status(self, status: JobStatus, limit: int = 20) -> list[Job]:
        return cast(list[Job], self._call("list_by_status", status, limit))


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def error(self) -> tuple[str, str | None]:
        return self.body["error"], self.body["field"]


@dataclass
class Api:
    """The deployed function as a client sees it, with its fakes at hand."""

    handler: ApiRoutes
    repo: FlakyJobRepository
    uploads: InMemoryUploadStore
    workflow: InMemoryWorkflow
    outputs: DirectoryMediaStore
    tokens: InMemoryTokenStore
    clock: Clock
    quotas: InMemoryQuotaStore
    queue: InMemoryQueueStore
    scheduler: Scheduler
    webhooks: InMemoryWebhookStore
    deliveries: RecordingDeliveryQueue
    caption_files: InMemoryCaptionFiles

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        user: str | None = ALICE,
        query: dict[str, str] | None = None,
        raw: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        authorizer: dict[str, Any] | None = None,
    ) -> Answer:
        sent = {"Content-Type": "application/json"} | (headers or {})
        context: dict[str, Any] = {"stage": "v1", "requestId": "r-1", "httpMethod": method, "path": f"/v1{path}"}
        if user is not None:
            sent["Authorization"] = f"Bearer {TOKENS[user]}"
            # What API Gateway passes on after the token authorizer (lambdas/handlers/authorize.py) allowed it.
            context["authorizer"] = authorizer_context(authenticate(self.tokens, sent["Authorization"]))
        if authorizer is not None:
            context["authorizer"] = authorizer
        event = {
            "resource": "/openapi.json" if path == "/openapi.json" else "/{proxy+}",
            "path": path,
            "httpMethod": method,
            "headers": sent,
            "multiValueHeaders": {name: [value] for name, value in sent.items()},
            "queryStringParameters": query,
            "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
            "pathParameters": {"proxy": path.lstrip("/")},
            "stageVariables": None,
            "requestContext": context,
            # API Gateway passes bodies that are not text base64-encoded.
            "body": base64.b64encode(raw).decode()
            if isinstance(raw, bytes)
            else raw
            if raw is not None
            else (json.dumps(body) if body is not None else None),
            "isBase64Encoded": isinstance(raw, bytes),
        }
        response = self.handler(event, None)  # type: ignore[arg-type]
        text = response.get("body") or ""
        # Powertools answers multiValueHeaders; API Gateway sends both kinds as HTTP headers.
        headers = dict(response.get("headers") or {})
        headers.update((name, ", ".join(values)) for name, values in (response.get("multiValueHeaders") or {}).items())
        return Answer(response["statusCode"], json.loads(text) if text else None, headers)

    def upload(self, size: int = 12 * MIB, *, user: str = ALICE, **fields: Any) -> dict[str, Any]:
        answer = self.call("POST", "/uploads", {"file_name": "clip.mp4", "size": size, **fields}, user=user)
        assert answer.status == 201, answer.body
        return dict(answer.body)

    def put_all(self, created: dict[str, Any], data: bytes) -> None:
        part_size = created["part_size"]
        for part in created["parts"]:
            start = (part["part_number"] - 1) * part_size
            self.uploads.put_part(part["url"], data[start : start + part_size])


def authorizer_context(identity: Identity | None) -> dict[str, Any] | None:
    """requestContext.authorizer as API Gateway passes the authorizer's context on: every value a string."""
    if identity is None:
        return None
    return {"principalId": identity.owner} | {key: str(value) for key, value in identity.context().items()}


@pytest.fixture
def clock() -> Clock:
    return Clock()


class DefaultPartSize(UploadService):
    """The upload service with `default_part_size` instead of 8 MiB for uploads that ask for no part size (the
    client's tests use small files); a part size asked for is validated as ever."""

    def __init__(self, *args: Any, default_part_size: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default_part_size = default_part_size

    def create(self, caller: Caller | str, request: CreateUpload) -> UploadCreated:
        if request.part_size is None:
            request = request.model_copy(update={"part_size": self.default_part_size})
        return super().create(caller, request)


def build_api(
    root: Path,
    clock: Clock,
    *,
    max_upload_bytes: int = MAX_UPLOAD,
    workflow: InMemoryWorkflow | None = None,
    uploads: InMemoryUploadStore | None = None,
    default_part_size: int | None = None,
    queue: QueueConfig | None = None,
    presets: tuple[Preset, ...] = (),
    playback: PrivatePlayback | None = None,
    cors_origins: tuple[str, ...] = ("*",),
) -> Api:
    """The API over fresh fakes (output objects under `root`), configured as the `api` fixture unless told."""
    repo = FlakyJobRepository(clock)
    uploads = InMemoryUploadStore() if uploads is None else uploads
    workflow = workflow or InMemoryWorkflow()
    outputs = DirectoryMediaStore(root / "s3")
    tokens = InMemoryTokenStore()
    for owner, token in TOKENS.items():
        identity = IDENTITIES[owner]
        tokens.add(token, owner, role=identity.role, max_priority=identity.max_priority)
    config = ApiConfig(
        uploads_bucket=UPLOADS,
        outputs_bucket=OUTPUTS,
        max_upload_bytes=max_upload_bytes,
        presign_expiry_seconds=900,
        queue=queue or QueueConfig(),
        presets=presets,
        private_playback=playback is not None,
    )
    quotas = InMemoryQuotaStore(repo)
    upload_service = (
        UploadService(repo, uploads, config, quotas=quotas, clock=clock)
        if default_part_size is None
        else DefaultPartSize(repo, uploads, config, quotas=quotas, clock=clock, default_part_size=default_part_size)
    )
    queue_store = InMemoryQueueStore(repo)
    scheduler = Scheduler(queue_store, repo, workflow, uploads, config.queue, clock=clock)
    hooks, deliveries = InMemoryWebhookStore(), RecordingDeliveryQueue()
    caption_files = InMemoryCaptionFiles()
    services = ApiServices(
        uploads=upload_service,
        jobs=JobService(
            repo,
            workflow,
            outputs,
            uploads,
            config,
            queue=queue_store,
            signals=SchedulerSignals(scheduler),
            clock=clock,
            playback=playback,
        ),
        operators=OperatorService(
            queue_store, CountedDeadLetters(), throttled=quotas.refusals_since, config=config.queue, clock=clock
        ),
        # The default egress policy, with every name resolving to a public address.
        webhooks=WebhookService(hooks, deliveries, WebhookConfig(), resolve=public_resolver, clock=clock),
        captions=CaptionService(repo, caption_files, CAPTION_CONFIG, clock=clock),
        # Sources are looked up in the same directory store as outputs (bucket UPLOADS).
        clips=ClipService(repo, outputs, config, quotas=quotas, signals=SchedulerSignals(scheduler), clock=clock),
        downloads=DownloadService(repo, RecordingDownloadLinks(), OUTPUTS, clock=clock),
        presets=config.catalog(),
    )
    return Api(
        ApiRoutes(lambda: services, cors_origins=cors_origins),
        repo,
        uploads,
        workflow,
        outputs,
        tokens,
        clock,
        quotas,
        queue_store,
        scheduler,
        hooks,
        deliveries,
        caption_files,
    )


@pytest.fixture
def api(tmp_path: Path, clock: Clock) -> Api:
    return build_api(tmp_path, clock)


def payload(size: int, seed: int = 7) -> bytes:
    """`size` bytes that differ per part (so a part put in the wrong place changes the object)."""
    block = bytes((seed + i) % 251 for i in range(4096))
    return (block * (size // len(block) + 1))[:size]
