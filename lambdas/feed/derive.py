"""What a write to the jobs table means to the feed: the events one stream record yields (pure)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from lambdas.feed.model import EventType, FeedEvent, event_id
from lambdas.feed.records import Change, Item, ItemKind, Operation, endpoint_view
from lambdas.jobs.items import event_from_item, job_from_item, to_wire
from lambdas.jobs.model import EventKind, Job, JobStatus, UtcDatetime

# The public job view (the handler passes `lambda job: public_job(job).model_dump(mode="json")`).
type JobView = Callable[[Job], dict[str, Any]]
# The job as it is now (for a repair, whose log entry carries neither owner nor view); None if gone.
type JobLoader = Callable[[str], Job | None]

# job.progress at most once per PROGRESS_STEP % of the job and once per PROGRESS_WINDOW seconds of updated_at.
PROGRESS_STEP = 10
PROGRESS_WINDOW = 10
# A repair follows whatever write of the job it repaired (those yield sequence 0 and 1 at their revision).
REPAIR_SEQUENCE = 2
# Every write changes these: a write that changes nothing else changes nothing public.
_EVERY_WRITE = ("revision", "updated_at")

_instant: TypeAdapter[datetime] = TypeAdapter(UtcDatetime)

S = JobStatus
T = EventType
_TERMINAL = {S.COMPLETED: T.JOB_COMPLETED, S.FAILED: T.JOB_FAILED, S.CANCELLED: T.JOB_CANCELLED}


def derive(change: Change, *, view: JobView, load_job: JobLoader) -> list[FeedEvent]:
    """The feed events of one change, in order (sequence 0, 1…); none for most writes.

    A job item's MODIFY without its old image (a stream not NEW_AND_OLD_IMAGES) yields nothing: it cannot be told
    from a repeated write.
    """
    if change.operation is Operation.REMOVE or change.new is None:
        return []
    match change.kind:
        case ItemKind.JOB if change.operation is Operation.INSERT:
            return _job_events(None, change.new, view)
        case ItemKind.JOB if change.old is not None:
            return _job_events(change.old, change.new, view)
        case ItemKind.LOG_ENTRY if change.operation is Operation.INSERT:
            return _repair_events(change, change.new, view, load_job)
        case ItemKind.WEBHOOK_ENDPOINT:
            return _endpoint_events(change, change.new)
        case _:
            return []


def job_of(item: Item) -> Job:
    """A job item's image (deserialized) as the Job it stores."""
    return job_from_item(to_wire(item))


def job_types(old: Job | None, new: Job, view: JobView) -> list[EventType]:
    """The event types one write of a job item means, in order; `old` None for the item's creation."""
    if old is None:
        return [T.JOB_CREATED, T.JOB_QUEUED] if new.status is S.QUEUED else [T.JOB_CREATED]
    if old.status is not new.status:
        return _status_types(old.status, new.status)
    if _public(old, view) == _public(new, view):
        return []  # the slot marker, a revision, a repeated write, a field users never see…
    types: list[EventType] = []
    if old.playable_at is None and new.playable_at is not None:
        types.append(T.JOB_PLAYABLE)
    if old.audio_ready_at is None and new.audio_ready_at is not None:
        types.append(T.AUDIO_READY)  # data: the job view, whose `audio_files` name the files
    if old.priority != new.priority:
        types.append(T.JOB_PRIORITY_CHANGED)
    if new.status is S.PROCESSING and is_progress_news(old, new):
        types.append(T.JOB_PROGRESS)
    return types


def is_progress_news(old: Job, new: Job) -> bool:
    """Progress worth an event: a new step, a new tenth of the job, or the first report in a 10-second window."""
    if old.current_step != new.current_step:
        return True
    if old.progress == new.progress and old.rendition_progress == new.rendition_progress:
        return False
    return old.progress // PROGRESS_STEP != new.progress // PROGRESS_STEP or _window(old.updated_at) != _window(
        new.updated_at
    )


def _window(moment: datetime) -> int:
    return int(moment.timestamp() // PROGRESS_WINDOW)


def _status_types(old: JobStatus, new: JobStatus) -> list[EventType]:
    if new is S.QUEUED:
        if old is S.UPLOADING:
            return [T.JOB_UPLOADED, T.JOB_QUEUED]
        if old in (S.FAILED, S.CANCELLED):
            return [T.JOB_RETRIED, T.JOB_QUEUED]
        return [T.JOB_QUEUED]
    if new is S.PROCESSING:
        return [T.JOB_STARTED]
    if new in _TERMINAL:
        return [_TERMINAL[new]]
    return []  # back to UPLOADING: no transition does that


def _public(job: Job, view: JobView) -> dict[str, Any]:
    return {name: value for name, value in view(job).items() if name not in _EVERY_WRITE}


def _job_events(old_item: Item | None, new_item: Item, view: JobView) -> list[FeedEvent]:
    new = job_of(new_item)
    old = job_of(old_item) if old_item is not None else None
    types = job_types(old, new, view)
    if not types:
        return []
    data = view(new)
    return [
        FeedEvent(
            id=event_id("job", new.job_id, new.revision, str(type_)),
            type=type_,
            timestamp=new.updated_at,
            job_id=new.job_id,
            owner=new.owner,
            version=new.revision,
            sequence=sequence,
            data=data,
        )
        for sequence, type_ in enumerate(types)
    ]


def _repair_events(change: Change, item: Item, view: JobView, load_job: JobLoader) -> list[FeedEvent]:
    if item.get("kind") != EventKind.REPAIRED or change.job_id is None:
        return []
    entry = event_from_item(to_wire(item))
    job = load_job(change.job_id)
    if job is None:
        return []  # removed since (TTL): nobody to tell
    return [
        FeedEvent(
            id=event_id("repair", change.pk, change.sk),
            type=T.JOB_REPAIRED,
            timestamp=entry.time,
            job_id=job.job_id,
            owner=job.owner,
            version=job.revision,
            sequence=REPAIR_SEQUENCE,
            data=view(job) | {"repair": {"message": entry.message}},
        )
    ]


def _endpoint_events(change: Change, new: Item) -> list[FeedEvent]:
    old = change.old
    if old is None or old.get("status") != "enabled" or new.get("status") != "disabled":
        return []
    if change.endpoint_id is None or change.owner is None:
        return []
    return [
        FeedEvent(
            id=event_id("webhook", change.endpoint_id, change.sequence_number),
            type=T.WEBHOOK_DISABLED,
            timestamp=_endpoint_time(change, new),
            job_id=None,
            owner=change.owner,
            version=0,
            sequence=0,
            data=endpoint_view(change.endpoint_id, new),
        )
    ]


def _endpoint_time(change: Change, new: Item) -> datetime:
    for name in ("disabled_at", "updated_at"):
        if isinstance(new.get(name), str):
            return _instant.validate_python(new[name])
    if change.approximate_time is None:
        raise ValueError(f"endpoint {change.endpoint_id}: the record tells no time")
    return change.approximate_time
