"""PublishJob: the job becomes COMPLETED with its outputs, playback URL and per-step timings."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pydantic import BaseModel, ConfigDict

from lambdas.cost.measure import measure
from lambdas.cost.model import JobCost
from lambdas.cost.ports import UsageLedger
from lambdas.cost.usage import Invocation
from lambdas.jobs.model import Clock, EventKind, Job, JobEvent, JobOutputs, JobStatus, JobStep, utc_now
from lambdas.jobs.ports import ConcurrentUpdate, JobNotProcessing, JobRepository
from lambdas.jobs.transitions import transition
from lambdas.pipeline.config import JobRef, PipelineConfig
from lambdas.pipeline.errors import JobCancelled, TransientError, transient_errors
from lambdas.pipeline.package import PackageResult

_ATTEMPTS = 5


class PublishRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    job: JobRef
    outputs: PackageResult


def playback_url(base_url: str, manifest_key: str) -> str:
    return f"{base_url.rstrip('/')}/{manifest_key}"


def _url(job: Job, config: PipelineConfig, key: str | None) -> str | None:
    """A manifest's or file's public URL; None for a private job (the API signs its URLs per request, lambdas/playback,
    never stored) and for a job without manifests (audio outputs only)."""
    return None if job.private or key is None else playback_url(config.playback_base_url, key)


def step_timings(events: Iterable[JobEvent]) -> dict[JobStep, float]:
    """Seconds from a step's first start to its last finish (parallel renditions count once, as wall time)."""
    starts: dict[JobStep, JobEvent] = {}
    ends: dict[JobStep, JobEvent] = {}
    for event in events:
        if event.kind is EventKind.STARTED and event.step not in starts:
            starts[event.step] = event
        elif event.kind is EventKind.FINISHED:
            ends[event.step] = event
    return {
        step: round(max(0.0, (ends[step].time - start.time).total_seconds()), 3)
        for step, start in starts.items()
        if step in ends
    }


def measured_cost(
    job: Job, outputs: PackageResult, config: PipelineConfig, ledger: UsageLedger, running: Invocation | None
) -> JobCost:
    """The job's estimate kept, its measurement from every invocation recorded and this one's usage so far."""
    invocations = ledger.invocations(job.job_id) + ((running,) if running is not None else ())
    stored = sum(f.size_bytes for f in outputs.files)
    measured = measure(invocations, stored_bytes=stored, prices=config.cost.prices)
    return JobCost(estimate=job.cost.estimate if job.cost else None, measured=measured)


def publish(
    request: PublishRequest,
    repository: JobRepository,
    config: PipelineConfig,
    *,
    clock: Clock = utc_now,
    ledger: UsageLedger | None = None,
    running: Callable[[], Invocation | None] = lambda: None,
) -> Job:
    """`ledger` and `running`: the invocations recorded on the job and this one's (no measured cost without)."""
    job_id, outputs = request.job.job_id, request.outputs
    with transient_errors():
        for _ in range(_ATTEMPTS):
            job = repository.get(job_id)
            if job.status is JobStatus.COMPLETED and job.execution_arn == request.job.execution_arn:
                return job  # a Lambda retry after the write went through
            if job.status is JobStatus.CANCELLED:
                raise JobCancelled(job_id)
            if job.status is not JobStatus.PROCESSING:
                raise JobNotProcessing(job_id, job.status)
            repository.append_event(job_id, JobEvent(time=clock(), step=JobStep.PUBLISH, kind=EventKind.STARTED))
            completed = transition(
                job,
                JobStatus.COMPLETED,
                clock(),
                current_step=JobStep.PUBLISH,
                outputs=JobOutputs(
                    # A private job's URLs are signed per request by the API (lambdas/playback), never stored.
                    playback_url=_url(job, config, outputs.manifest_key),
                    manifest_key=outputs.manifest_key,
                    dash_url=_url(job, config, outputs.dash_key),
                    dash_manifest_key=outputs.dash_key,
                    # Every file's public URL (storyboard, thumbnails, MP4s) for players and pages to use as it is.
                    files=tuple(f.model_copy(update={"url": _url(job, config, f.key)}) for f in outputs.files),
                    encode_cpu_seconds=outputs.encode_cpu_seconds,
                    clip=outputs.clip,
                    quality=outputs.quality,
                    warnings=outputs.warnings,
                ),
                metrics=step_timings(repository.list_events(job_id)),
                **({"cost": measured_cost(job, outputs, config, ledger, running())} if ledger is not None else {}),
            )
            try:
                saved = repository.save_transition(job, completed)
            except ConcurrentUpdate:
                continue
            repository.append_event(
                job_id, JobEvent(time=clock(), step=JobStep.PUBLISH, kind=EventKind.FINISHED, message="completed")
            )
            return saved
    raise TransientError(f"job {job_id} kept changing while it was published")
