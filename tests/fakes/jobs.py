"""An in-memory JobRepository for unit tests: same behaviour and exceptions as the DynamoDB adapter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from lambdas.cost.model import CostBreakdown, JobCost
from lambdas.jobs.cursor import decode_cursor, encode_cursor, position_of
from lambdas.jobs.model import AudioLoudness, Caption, Job, JobEvent, JobStatus, JobStep, OutputFile, utc_iso, utc_now
from lambdas.jobs.ports import (
    ConcurrentUpdate,
    JobAlreadyExists,
    JobNotFound,
    JobNotProcessing,
    JobRepository,
    check_page_size,
    check_percent,
    moved_error,
)
from lambdas.jobs.transitions import check_successor, record_audio_ready, record_playable, record_progress


def changed_fields(before: Job, after: Job) -> list[str]:
    return [name for name in Job.model_fields if getattr(before, name) != getattr(after, name)]


class InMemoryJobRepository:
    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        self._events: dict[str, list[JobEvent]] = {}
        self._work: dict[tuple[str, int], set[str]] = {}

    def create(self, job: Job) -> None:
        if job.job_id in self._jobs:
            raise JobAlreadyExists(job.job_id)
        self._jobs[job.job_id] = job
        self._events[job.job_id] = []

    def get(self, job_id: str) -> Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise JobNotFound(job_id) from None

    def get_for_owner(self, owner: str, job_id: str) -> Job:
        job = self.get(job_id)
        if job.owner != owner:
            raise JobNotFound(job_id)
        return job

    def save_transition(self, job_before: Job, job_after: Job) -> Job:
        check_successor(job_before, job_after)
        stored = self.get(job_before.job_id)
        if (stored.status, stored.version) != (job_before.status, job_before.version):
            raise moved_error(stored, job_before, job_after)
        update = {name: getattr(job_after, name) for name in changed_fields(job_before, job_after)}
        update.pop("revision", None)
        saved = Job.model_validate({**dict(stored), **update, "revision": stored.revision + 1})
        self._jobs[saved.job_id] = saved
        return saved

    def update_progress(
        self,
        job_id: str,
        step: JobStep,
        percent: int,
        rendition: str | None = None,
        *,
        eta_at: datetime | None = None,
    ) -> bool:
        check_percent(percent)
        job = self.get(job_id)
        updated = record_progress(job, step, percent, self._clock(), rendition, eta_at=eta_at)
        if updated is job:
            return False
        self._jobs[job_id] = updated.model_copy(update={"revision": job.revision + 1})
        return True

    def record_work_done(self, job_id: str, attempt: int, item_id: str) -> frozenset[str]:
        self.get(job_id)
        done = self._work.setdefault((job_id, attempt), set())
        done.add(item_id)
        return frozenset(done)

    def work_done(self, job_id: str, attempt: int) -> frozenset[str]:
        self.get(job_id)
        return frozenset(self._work.get((job_id, attempt), set()))

    def record_source_duration(self, job_id: str, duration_s: float) -> bool:
        job = self.get(job_id)
        if job.status is not JobStatus.PROCESSING:
            raise JobNotProcessing(job_id, job.status)
        duration = round(duration_s, 6)
        if job.source_duration_s == duration:
            return False
        self._jobs[job_id] = job.model_copy(
            update={"source_duration_s": duration, "updated_at": self._clock(), "revision": job.revision + 1}
        )
        return True

    def record_cost_estimate(self, job_id: str, estimate: CostBreakdown) -> None:
        job = self.get(job_id)
        if job.status is not JobStatus.PROCESSING:
            raise JobNotProcessing(job_id, job.status)
        cost = JobCost(estimate=estimate)
        self._jobs[job_id] = job.model_copy(
            update={"cost": cost, "updated_at": self._clock(), "revision": job.revision + 1}
        )

    def mark_playable(self, job_id: str, segments: int, url: str) -> bool:
        job = self.get(job_id)
        updated = record_playable(job, segments, url, self._clock())
        if updated is job:
            return False
        self._jobs[job_id] = updated.model_copy(update={"revision": job.revision + 1})
        return True

    def mark_audio_ready(
        self, job_id: str, files: tuple[OutputFile, ...], loudness: tuple[AudioLoudness, ...] = ()
    ) -> bool:
        job = self.get(job_id)
        updated = record_audio_ready(job, files, loudness, self._clock())
        self._jobs[job_id] = updated.model_copy(update={"revision": job.revision + 1})
        return job.audio_ready_at is None

    def save_captions(self, job: Job, captions: tuple[Caption, ...], files: tuple[OutputFile, ...]) -> Job:
        stored = self.get(job.job_id)
        if stored.status is not JobStatus.COMPLETED or stored.revision != job.revision or stored.outputs is None:
            raise ConcurrentUpdate(job.job_id, job.revision, stored.revision)
        saved = stored.model_copy(
            update={
                "captions": captions,
                "outputs": stored.outputs.model_copy(update={"files": files}),
                "updated_at": self._clock(),
                "revision": stored.revision + 1,
            }
        )
        self._jobs[job.job_id] = Job.model_validate(dict(saved))
        return self._jobs[job.job_id]

    def append_event(self, job_id: str, event: JobEvent) -> None:
        self.get(job_id)
        self._events[job_id].append(event)

    def list_events(self, job_id: str) -> list[JobEvent]:
        self.get(job_id)
        return sorted(self._events[job_id], key=lambda event: event.time)  # stable: ties keep append order

    def list_for_owner(
        self, owner: str, status: JobStatus | None = None, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[Job], str | None]:
        check_page_size(limit)
        jobs = sorted(
            (j for j in self._jobs.values() if j.owner == owner and (status is None or j.status == status)),
            key=position_of,
            reverse=True,
        )
        if cursor is not None:
            after = decode_cursor(cursor, owner)
            jobs = [j for j in jobs if position_of(j) < after]
        page = jobs[:limit]
        more = len(jobs) > limit
        return page, (encode_cursor(owner, position_of(page[-1])) if more else None)

    def list_by_status(self, status: JobStatus, limit: int = 20) -> list[Job]:
        check_page_size(limit, maximum=None)
        jobs = [j for j in self._jobs.values() if j.status == status]
        jobs.sort(key=lambda j: (j.priority, utc_iso(j.queued_at or j.created_at), j.job_id))
        return jobs[:limit]


if TYPE_CHECKING:

    def _implements_port(repository: InMemoryJobRepository) -> JobRepository:
        return repository
