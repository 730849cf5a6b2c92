"""EmailOwner: a job completed, failed or was cancelled (an event of the deployment's bus) -> its owner's email."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.feed.model import FeedEvent
from lambdas.handlers import _wiring as wiring
from lambdas.jobs.ports import JobNotFound
from lambdas.notify.email import job_email

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    feed_event = FeedEvent.model_validate(event["detail"])
    logger.append_keys(job_id=feed_event.job_id, event_id=feed_event.id)
    mailer = wiring.mailer()
    if mailer is None or feed_event.job_id is None:
        return {"sent": False, "why": "no sender configured" if mailer is None else "not a job event"}
    try:
        # The address is not in the event (events go to every subscriber of the bus): it is read from the job.
        job = wiring.job_repository().get(feed_event.job_id)
    except JobNotFound:
        return {"sent": False, "why": "job gone"}
    email = job_email(job)
    if email is None:
        return {"sent": False, "why": "no address for this owner, or the job has not ended"}
    message_id = mailer.send(email)
    logger.info("owner notified", extra={"message_id": message_id, "status": job.status})
    return {"sent": True, "message_id": message_id}
