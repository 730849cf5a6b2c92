"""PublishEvents: a batch of the jobs table's stream records -> job events on the deployment's bus.

Every write of a job is in the stream, whatever code path made it (the API, the workflow's own DynamoDB steps,
the scheduler): no path can change a job without its event. Records are taken in order; the first one whose
events could not all be put is reported, and the event source mapping retries from there (events already put are
put again: consumers dedupe by event id).

A job's end is also measured here (lambdas/metrics, EMF lines in this function's logs), for the records before the
one reported, so at most once per terminal write: the retry starts at the reported record, and a terminal write
redelivered within one batch (the same job and revision) is measured once. A whole batch retried after this
function itself failed (a timeout, a crash) may measure its ends again.
"""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.api.models import public_job
from lambdas.feed.bus import MAX_REQUEST_BYTES, entry_size
from lambdas.feed.derive import derive
from lambdas.feed.model import FeedEvent
from lambdas.feed.ports import FeedUnavailable
from lambdas.feed.records import parse_record
from lambdas.handlers import _wiring as wiring
from lambdas.jobs.model import Job
from lambdas.jobs.ports import JobNotFound
from lambdas.metrics.jobs import change_metrics
from lambdas.metrics.model import MetricRecord, once

logger = Logger()
tracer = Tracer()


def _view(job: Job) -> dict[str, Any]:
    return public_job(job).model_dump(mode="json")


def _load_job(job_id: str) -> Job | None:
    try:
        return wiring.job_repository().get(job_id)
    except JobNotFound:
        return None


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    derived: list[tuple[str, list[FeedEvent], list[MetricRecord]]] = []
    for record in event.get("Records", []):
        change = parse_record(record)
        found = [e for e in derive(change, view=_view, load_job=_load_job) if _fits(e)]
        derived.append((change.sequence_number, found, change_metrics(change)))
    events = [e for _, found, _ in derived for e in found]
    try:
        failed = {e.id for e in wiring.feed().publish(events)}
    except FeedUnavailable:
        logger.exception("the bus is unavailable: the whole batch is retried")
        failed = {e.id for e in events}
    measured: list[MetricRecord] = []
    for sequence_number, found, records in derived:
        if any(e.id in failed for e in found):
            logger.warning("events not put; retrying from this record", extra={"sequence_number": sequence_number})
            wiring.metrics().emit(once(measured))
            return {"batchItemFailures": [{"itemIdentifier": sequence_number}]}
        measured += records
    wiring.metrics().emit(once(measured))
    logger.info("published", extra={"records": len(derived), "events": len(events)})
    return {"batchItemFailures": []}


def _fits(event: FeedEvent) -> bool:
    """An event over EventBridge's 256 KB would fail forever: it is logged and left out, never blocks the stream."""
    if entry_size(event) <= MAX_REQUEST_BYTES:
        return True
    logger.error("event too large for EventBridge: dropped", extra={"event_id": event.id, "type": event.type})
    return False
