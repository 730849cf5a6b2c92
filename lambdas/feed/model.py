"""Feed events: their types, EventBridge detail-types and sources, and the one JSON document each is sent as."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lambdas.jobs.model import UtcDatetime

JOBS_SOURCE = "vodpipe.jobs"
WEBHOOKS_SOURCE = "vodpipe.webhooks"
EVENT_ID_PREFIX = "evt_"


class EventType(StrEnum):
    JOB_CREATED = "job.created"
    JOB_UPLOADED = "job.uploaded"
    JOB_QUEUED = "job.queued"
    JOB_STARTED = "job.started"
    JOB_PROGRESS = "job.progress"
    JOB_PLAYABLE = "job.playable"
    JOB_PRIORITY_CHANGED = "job.priority_changed"
    JOB_COMPLETED = "job.completed"
    JOB_FAILED = "job.failed"
    JOB_CANCELLED = "job.cancelled"
    JOB_RETRIED = "job.retried"
    JOB_REPAIRED = "job.repaired"
    # The job's audio downloads are stored (before the video is done): start a transcription from here.
    AUDIO_READY = "audio.ready"
    WEBHOOK_DISABLED = "webhook.disabled"
    WEBHOOK_TEST = "webhook.test"

    @property
    def about_job(self) -> bool:
        """A job's event (job.*, audio.*), as opposed to an endpoint's (webhook.*)."""
        return not self.value.startswith("webhook.")


# The EventBridge detail-type of each type (the rules of the feed's bus match on them).
DETAIL_TYPES: dict[EventType, str] = {
    EventType.JOB_CREATED: "Job Created",
    EventType.JOB_UPLOADED: "Job Uploaded",
    EventType.JOB_QUEUED: "Job Queued",
    EventType.JOB_STARTED: "Job Started",
    EventType.JOB_PROGRESS: "Job Progress",
    EventType.JOB_PLAYABLE: "Job Playable",
    EventType.JOB_PRIORITY_CHANGED: "Job Priority Changed",
    EventType.JOB_COMPLETED: "Job Completed",
    EventType.JOB_FAILED: "Job Failed",
    EventType.JOB_CANCELLED: "Job Cancelled",
    EventType.JOB_RETRIED: "Job Retried",
    EventType.JOB_REPAIRED: "Job Repaired",
    EventType.AUDIO_READY: "Audio Ready",
    EventType.WEBHOOK_DISABLED: "Webhook Disabled",
    EventType.WEBHOOK_TEST: "Webhook Test",
}

TERMINAL_TYPES = frozenset({EventType.JOB_COMPLETED, EventType.JOB_FAILED, EventType.JOB_CANCELLED})


def detail_type(type_: EventType) -> str:
    return DETAIL_TYPES[EventType(type_)]


def source_of(type_: EventType) -> str:
    return JOBS_SOURCE if EventType(type_).about_job else WEBHOOKS_SOURCE


def event_id(*parts: str | int) -> str:
    """`evt_` + 32 hex of a hash of what the event is about: the same parts always give the same id.

    Parts are hashed as a JSON array, so ("a#b", "c") and ("a", "b#c") never collide.
    """
    digest = hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()
    return EVENT_ID_PREFIX + digest[:32]


class FeedEvent(BaseModel):
    """One event: the EventBridge detail and the webhook body alike (`body()`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^evt_[0-9A-Za-z]{1,64}$")  # `event_id(...)` for derived events
    type: EventType
    timestamp: UtcDatetime
    job_id: str | None  # None for webhook.* events
    owner: str = Field(min_length=1)
    version: int = Field(ge=0)  # the job's revision (0 for webhook.* events: endpoints have none)
    sequence: int = Field(ge=0)  # among the events of one write; (version, sequence) orders a job's events
    data: dict[str, Any]

    @property
    def detail_type(self) -> str:
        return detail_type(self.type)

    @property
    def source(self) -> str:
        return source_of(self.type)

    def body(self) -> str:
        """Compact JSON, fields in declaration order: what is signed and sent, and the EventBridge Detail."""
        return self.model_dump_json()
