"""The webhooks routes: a user's endpoints, their signing secrets, deliveries, tests and replays.

Thin over `lambdas.webhooks.service.WebhookService`; this module holds the REST shapes and the mapping of the
service's errors to answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from pydantic import Field

from lambdas.api.error_responses import documented
from lambdas.api.errors import Conflict, InvalidInput, NotFound, Unavailable
from lambdas.api.models import _Request, _Response
from lambdas.jobs.model import UtcDatetime
from lambdas.jobs.ports import InvalidCursor
from lambdas.webhooks.egress import MAX_URL_LENGTH, EgressRefused
from lambdas.webhooks.model import (
    DELIVERY_ID_PATTERN,
    ENDPOINT_ID_PATTERN,
    Attempt,
    Delivery,
    DeliveryStatus,
    Endpoint,
    EndpointStatus,
)
from lambdas.webhooks.ports import (
    ConcurrentChange,
    DeliveryNotFound,
    EndpointNotFound,
    TooManyEndpoints,
    WebhooksUnavailable,
)
from lambdas.webhooks.service import MAX_DESCRIPTION_CHARS, EndpointDisabled, InvalidWebhook, WebhookService

if TYPE_CHECKING:
    from lambdas.api.owner import Caller

EndpointIdParam = Annotated[str, PathParam(pattern=ENDPOINT_ID_PATTERN, description="The endpoint's id (wh_…)")]
DeliveryIdParam = Annotated[
    str, PathParam(pattern=DELIVERY_ID_PATTERN, description="The delivery's id: the `webhook-id` it was sent with")
]
_NOT_FOUND = (404,)


class CreateWebhook(_Request):
    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH, description="https URL of a public address")
    events: list[str] = Field(
        default_factory=lambda: ["*"],
        min_length=1,
        max_length=50,
        description='Event types ("job.completed"), prefixes ("job.*") or "*" for all.',
    )
    description: str = Field("", max_length=MAX_DESCRIPTION_CHARS)


class Webhook(_Response):
    id: str
    url: str
    events: list[str]
    description: str
    status: EndpointStatus
    disabled_reason: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    failing_since: UtcDatetime | None = None
    last_success_at: UtcDatetime | None = None


class WebhookCreated(_Response):
    webhook: Webhook
    secret: str = Field(description="The signing secret (whsec_…): shown here only; keep it to verify signatures.")


class SecretRotated(_Response):
    webhook: Webhook
    secret: str = Field(description="The new signing secret, shown once.")
    previous_secret_expires_at: UtcDatetime | None = Field(
        None, description="Until then deliveries carry a signature by the previous secret too."
    )


class WebhookList(_Response):
    webhooks: list[Webhook]


class DeliveryAttempt(_Response):
    number: int
    at: UtcDatetime
    status_code: int | None = None
    latency_ms: int
    error: str | None = None


class WebhookDelivery(_Response):
    id: str = Field(description="The `webhook-id` header of every attempt")
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: UtcDatetime | None = None
    last_status_code: int | None = None
    last_latency_ms: int | None = None
    last_error: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    attempts: list[DeliveryAttempt] = Field(description="The latest attempts, oldest first")


class DeliveryAnswer(_Response):
    delivery: WebhookDelivery


class DeliveryPage(_Response):
    deliveries: list[WebhookDelivery]
    next_cursor: str | None = None


def webhook_view(endpoint: Endpoint) -> Webhook:
    public = endpoint.public()
    return Webhook(id=public.endpoint_id, **public.model_dump(exclude={"endpoint_id", "owner", "events"}),
                   events=list(public.events))  # fmt: skip


def _attempt(attempt: Attempt) -> DeliveryAttempt:
    return DeliveryAttempt.model_validate(attempt.model_dump(exclude={"response_excerpt"}))


def delivery_view(delivery: Delivery) -> WebhookDelivery:
    values = delivery.model_dump(
        exclude={"delivery_id", "endpoint_id", "owner", "body", "attempts", "round_attempts", "version"}
    )
    return WebhookDelivery(id=delivery.delivery_id, attempts=[_attempt(a) for a in delivery.attempts], **values)


@contextmanager
def answered() -> Iterator[None]:
    """The service's errors as the API's answers."""
    try:
        yield
    except EgressRefused as error:
        raise InvalidInput(str(error), field="url") from None
    except InvalidWebhook as error:
        raise InvalidInput(str(error), field=error.field) from None
    except (EndpointNotFound, DeliveryNotFound) as error:
        raise NotFound(str(error)) from None
    except (TooManyEndpoints, EndpointDisabled, ConcurrentChange) as error:
        raise Conflict(str(error)) from None
    except InvalidCursor:
        raise InvalidInput("cursor is not one this listing handed out", field="cursor") from None
    except WebhooksUnavailable as error:
        raise Unavailable(str(error)) from None


def add_webhook_routes(
    app: APIGatewayRestResolver, service: Callable[[], WebhookService], caller: Callable[[], Caller]
) -> None:
    tags = ["webhooks"]

    def owner() -> str:
        return caller().owner

    @app.post(
        "/webhooks",
        status_code=201,
        summary="Register a webhook endpoint",
        description="Events of the caller's own jobs are POSTed to `url`, signed per the Standard Webhooks "
        "specification (webhook-id, webhook-timestamp, webhook-signature) with the secret answered here once.",
        responses=documented(201, "The endpoint and its signing secret", 400, 409, 415),
        tags=tags,
        operation_id="create_webhook",
    )
    def create_webhook(request: Annotated[CreateWebhook, Body()]) -> WebhookCreated:
        with answered():
            endpoint, secret = service().create(owner(), request.url, request.events, request.description)
        return WebhookCreated(webhook=webhook_view(endpoint), secret=secret)

    @app.get(
        "/webhooks",
        summary="The caller's webhook endpoints",
        responses=documented(200, "The endpoints (no secrets)"),
        tags=tags,
        operation_id="list_webhooks",
    )
    def list_webhooks() -> WebhookList:
        with answered():
            return WebhookList(webhooks=[webhook_view(e) for e in service().list(owner())])

    @app.get(
        "/webhooks/<endpoint_id>",
        summary="One webhook endpoint",
        responses=documented(200, "The endpoint", *_NOT_FOUND),
        tags=tags,
        operation_id="get_webhook",
    )
    def get_webhook(endpoint_id: EndpointIdParam) -> Webhook:
        with answered():
            return webhook_view(service().get(owner(), endpoint_id))

    @app.delete(
        "/webhooks/<endpoint_id>",
        status_code=204,
        summary="Remove a webhook endpoint: nothing more is sent to it",
        responses=documented(204, "Removed", *_NOT_FOUND),
        tags=tags,
        operation_id="delete_webhook",
    )
    def delete_webhook(endpoint_id: EndpointIdParam) -> Response[None]:
        with answered():
            service().delete(owner(), endpoint_id)
        return Response(status_code=204, body=None)

    @app.post(
        "/webhooks/<endpoint_id>/rotate-secret",
        summary="A new signing secret; the previous one stays valid for 24 hours",
        responses=documented(200, "The new secret, shown once", *_NOT_FOUND, 409),
        tags=tags,
        operation_id="rotate_webhook_secret",
    )
    def rotate_secret(endpoint_id: EndpointIdParam) -> SecretRotated:
        with answered():
            endpoint, secret = service().rotate_secret(owner(), endpoint_id)
        previous = [s.expires_at for s in endpoint.secrets[1:] if s.expires_at is not None]
        return SecretRotated(
            webhook=webhook_view(endpoint), secret=secret, previous_secret_expires_at=max(previous, default=None)
        )

    @app.post(
        "/webhooks/<endpoint_id>/enable",
        summary="Enable a disabled endpoint again (its failure record is cleared)",
        responses=documented(200, "The endpoint", *_NOT_FOUND, 409),
        tags=tags,
        operation_id="enable_webhook",
    )
    def enable_webhook(endpoint_id: EndpointIdParam) -> Webhook:
        with answered():
            return webhook_view(service().enable(owner(), endpoint_id))

    @app.post(
        "/webhooks/<endpoint_id>/test",
        status_code=202,
        summary="Send a webhook.test event to this endpoint now",
        description="The delivery is attempted at once and retried like any other; follow it in the log.",
        responses=documented(202, "The delivery", *_NOT_FOUND, 409),
        tags=tags,
        operation_id="test_webhook",
    )
    def test_webhook(endpoint_id: EndpointIdParam) -> DeliveryAnswer:
        with answered():
            return DeliveryAnswer(delivery=delivery_view(service().send_test(owner(), endpoint_id)))

    @app.get(
        "/webhooks/<endpoint_id>/deliveries",
        summary="The endpoint's delivery log, newest first",
        description="Status (pending, succeeded, failed, dead), attempts with response code and latency, the next "
        "attempt's time. A `dead` delivery exhausted its retries: replay it once the receiver is back.",
        responses=documented(200, "A page of deliveries", *_NOT_FOUND),
        tags=tags,
        operation_id="webhook_deliveries",
    )
    def deliveries(
        endpoint_id: EndpointIdParam,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(max_length=1024, pattern=r"^[A-Za-z0-9_-]+$")] = None,
    ) -> DeliveryPage:
        with answered():
            found, next_cursor = service().deliveries(owner(), endpoint_id, limit, cursor)
        return DeliveryPage(deliveries=[delivery_view(d) for d in found], next_cursor=next_cursor)

    @app.post(
        "/webhooks/<endpoint_id>/deliveries/<delivery_id>/replay",
        status_code=202,
        summary="Send a delivery again, with the same webhook-id and body",
        responses=documented(202, "The delivery, pending", *_NOT_FOUND, 409),
        tags=tags,
        operation_id="replay_webhook_delivery",
    )
    def replay(endpoint_id: EndpointIdParam, delivery_id: DeliveryIdParam) -> DeliveryAnswer:
        with answered():
            return DeliveryAnswer(delivery=delivery_view(service().replay(owner(), endpoint_id, delivery_id)))
