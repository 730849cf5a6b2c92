"""ScheduleJobs: an upload, a queued or ended job, or the tick -> admissions into free slots, releases, repairs."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import TypeAdapter

from lambdas.events import JobFinished, ObjectCreated, ScheduledTick, SchedulerEvent
from lambdas.handlers import _wiring as wiring
from lambdas.jobs.model import utc_now
from lambdas.metrics.queue import backlog_metrics
from lambdas.pipeline.errors import UnrecognisedUpload
from lambdas.queue.backlog import backlog
from lambdas.queue.intake import queue_upload, upload_of
from lambdas.queue.order import HIGHEST, LOWEST
from lambdas.queue.scheduler import SCAN_PER_LEVEL

logger = Logger()
tracer = Tracer()
_EVENTS: TypeAdapter[Any] = TypeAdapter(SchedulerEvent)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = _EVENTS.validate_python(event)
    scheduler = wiring.scheduler()
    if isinstance(parsed, ObjectCreated):
        try:
            upload = upload_of(parsed, wiring.pipeline_config().uploads_bucket)
        except UnrecognisedUpload:
            logger.warning("not a vodpipe upload: nothing to queue", extra={"key": parsed.detail.object.key})
        else:
            logger.append_keys(job_id=upload.job_id)
            queue_upload(upload, wiring.job_repository(), wiring.media_store(), wiring.rendition_names())
        result = scheduler.admit()
    elif isinstance(parsed, JobFinished):
        logger.append_keys(job_id=parsed.detail.job_id)
        result = scheduler.finished(parsed.detail.job_id)
    elif isinstance(parsed, ScheduledTick):
        result = scheduler.tick()
        _measure_backlog()
    else:  # JobQueued
        result = scheduler.admit()
    logger.info("scheduler pass", extra={"kind": parsed.detail_type, **vars(result)})
    return vars(result)


def _measure_backlog() -> None:
    """The tick measures the waiting line (OldestQueuedSeconds, QueuedJobs), one page per priority level."""
    store = wiring.queue_store()
    waiting = [job for level in range(HIGHEST, LOWEST + 1) for job in store.waiting(level, SCAN_PER_LEVEL)]
    now = utc_now()
    wiring.metrics().emit(backlog_metrics(backlog(waiting, now), now))
