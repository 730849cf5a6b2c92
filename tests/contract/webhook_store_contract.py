"""The WebhookStore contract: one suite that every implementation (in-memory fake, DynamoDB adapter) passes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from lambdas.jobs.ports import InvalidCursor
from lambdas.webhooks.model import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Endpoint,
    EndpointStatus,
    Secret,
    delivery_id_of,
    new_endpoint_id,
)
from lambdas.webhooks.ports import (
    ConcurrentChange,
    DeliveryNotFound,
    EndpointNotFound,
    TooManyEndpoints,
    WebhookStore,
)

T0 = datetime(2031, 5, 17, 9, 0, 0, 123456, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def someone() -> str:
    """An owner no other test uses (the adapter's tests may share a table)."""
    return f"user-{uuid.uuid4().hex[:12]}"


def make_endpoint(owner: str, now: datetime = T0, **changes: object) -> Endpoint:
    values: dict[str, object] = {
        "endpoint_id": new_endpoint_id(now),
        "owner": owner,
        "url": "https://hooks.example.com/vodpipe?token=a%20b",
        "events": ("job.*", "webhook.disabled"),
        "description": "",
        "created_at": now,
        "updated_at": now,
        "secrets": (Secret(value="whsec_" + "A" * 43),),
    }
    return Endpoint.model_validate(values | changes)


def make_delivery(endpoint: Endpoint, n: int = 0, **changes: object) -> Delivery:
    event_time = T0 + n * SECOND
    event_id = f"evt_{uuid.uuid4().hex}"
    values: dict[str, object] = {
        "delivery_id": delivery_id_of(endpoint.endpoint_id, event_id, event_time),
        "endpoint_id": endpoint.endpoint_id,
        "owner": endpoint.owner,
        "event_id": event_id,
        "event_type": "job.completed",
        "body": '{"id":"' + event_id + '","type":"job.completed","data":{"title":"caf\u00e9 \u2615"}}',
        "next_attempt_at": event_time,
        "created_at": event_time,
        "updated_at": event_time,
    }
    return Delivery.model_validate(values | changes)


class WebhookStoreContract:
    """Subclass it and provide `store` (the WebhookStore under test).

    class TestMyWebhookStore(WebhookStoreContract):
        @pytest.fixture
        def store(self) -> WebhookStore: ...
    """

    @pytest.fixture
    def store(self) -> WebhookStore:
        raise NotImplementedError

    # --- endpoints --------------------------------------------------------------------------------

    def test_an_endpoint_reads_back_as_created(self, store: WebhookStore) -> None:
        endpoint = make_endpoint(someone(), description="the CMS", failing_since=None, last_success_at=T0)
        store.create_endpoint(endpoint, max_endpoints=20)
        assert store.get_endpoint(endpoint.owner, endpoint.endpoint_id) == endpoint

    def test_an_owner_lists_their_endpoints_oldest_first(self, store: WebhookStore) -> None:
        owner = someone()
        endpoints = [make_endpoint(owner, T0 + n * SECOND) for n in range(3)]
        for endpoint in reversed(endpoints):
            store.create_endpoint(endpoint, max_endpoints=20)
        assert store.list_endpoints(owner) == endpoints
        assert store.list_endpoints(someone()) == []

    def test_another_owner_cannot_see_or_delete_an_endpoint(self, store: WebhookStore) -> None:
        endpoint = make_endpoint(someone())
        store.create_endpoint(endpoint, max_endpoints=20)
        intruder = someone()
        with pytest.raises(EndpointNotFound):
            store.get_endpoint(intruder, endpoint.endpoint_id)
        with pytest.raises(EndpointNotFound):
            store.delete_endpoint(intruder, endpoint.endpoint_id)
        assert store.get_endpoint(endpoint.owner, endpoint.endpoint_id) == endpoint

    @pytest.mark.parametrize(
        "endpoint_id", [new_endpoint_id(T0), "wh_nope", "", "OWNER#x"], ids=["fresh", "unknown", "empty", "a-key"]
    )
    def test_an_unknown_endpoint_is_not_found(self, store: WebhookStore, endpoint_id: str) -> None:
        with pytest.raises(EndpointNotFound):
            store.get_endpoint(someone(), endpoint_id)

    def test_an_owner_has_at_most_max_endpoints(self, store: WebhookStore) -> None:
        owner, other = someone(), someone()
        for n in range(2):
            store.create_endpoint(make_endpoint(owner, T0 + n * SECOND), max_endpoints=2)
        with pytest.raises(TooManyEndpoints) as refused:
            store.create_endpoint(make_endpoint(owner), max_endpoints=2)
        assert refused.value.limit == 2
        assert len(store.list_endpoints(owner)) == 2
        store.create_endpoint(make_endpoint(other), max_endpoints=2)  # counted per owner

        store.delete_endpoint(owner, store.list_endpoints(owner)[0].endpoint_id)
        store.create_endpoint(make_endpoint(owner), max_endpoints=2)
        assert len(store.list_endpoints(owner)) == 2

    def test_an_endpoint_id_is_created_once(self, store: WebhookStore) -> None:
        endpoint = make_endpoint(someone())
        store.create_endpoint(endpoint, max_endpoints=20)
        with pytest.raises(ConcurrentChange):
            store.create_endpoint(endpoint.model_copy(update={"description": "again"}), max_endpoints=20)
        assert store.get_endpoint(endpoint.owner, endpoint.endpoint_id) == endpoint

    def test_a_deleted_endpoint_is_gone(self, store: WebhookStore) -> None:
        endpoint = make_endpoint(someone())
        store.create_endpoint(endpoint, max_endpoints=20)
        store.delete_endpoint(endpoint.owner, endpoint.endpoint_id)
        with pytest.raises(EndpointNotFound):
            store.get_endpoint(endpoint.owner, endpoint.endpoint_id)
        with pytest.raises(EndpointNotFound):
            store.delete_endpoint(endpoint.owner, endpoint.endpoint_id)
        assert store.list_endpoints(endpoint.owner) == []

    def test_a_saved_endpoint_reads_back_with_every_change(self, store: WebhookStore) -> None:
        endpoint = make_endpoint(someone())
        store.create_endpoint(endpoint, max_endpoints=20)
        later = T0 + timedelta(days=1, microseconds=7)
        after = endpoint.revised(
            later,
            secrets=(Secret(value="whsec_" + "B" * 43), Secret(value=endpoint.secrets[0].value, expires_at=later)),
            status=EndpointStatus.DISABLED,
            disabled_reason="the receiver answered 410 Gone",
            failing_since=T0,
        )
        store.save_endpoint(endpoint, after)
        stored = store.get_endpoint(endpoint.owner, endpoint.endpoint_id)
        assert stored == after
        assert stored.version == endpoint.version + 1

    def test_saving_over_a_stale_endpoint_is_a_concurrent_change(self, store: WebhookStore) -> None:
        endpoint = make_endpoint(someone())
        store.create_endpoint(endpoint, max_endpoints=20)
        first = endpoint.revised(T0 + SECOND, failing_since=T0)
        store.save_endpoint(endpoint, first)
        with pytest.raises(ConcurrentChange):
            store.save_endpoint(endpoint, endpoint.revised(T0 + SECOND, description="lost"))
        assert store.get_endpoint(endpoint.owner, endpoint.endpoint_id) == first

    def test_saving_a_deleted_endpoint_is_not_found(self, store: WebhookStore) -> None:
        endpoint = make_endpoint(someone())
        store.create_endpoint(endpoint, max_endpoints=20)
        store.delete_endpoint(endpoint.owner, endpoint.endpoint_id)
        with pytest.raises(EndpointNotFound):
            store.save_endpoint(endpoint, endpoint.revised(T0, description="late"))

    def test_only_the_next_version_of_the_same_endpoint_is_saved(self, store: WebhookStore) -> None:
        endpoint = make_endpoint(someone())
        store.create_endpoint(endpoint, max_endpoints=20)
        with pytest.raises(ValueError, match="next version"):
            store.save_endpoint(endpoint, endpoint.model_copy(update={"description": "no version"}))
        with pytest.raises(ValueError, match="next version"):
            store.save_endpoint(endpoint, make_endpoint(endpoint.owner).revised(T0))

    # --- deliveries -------------------------------------------------------------------------------

    def test_a_delivery_is_put_once(self, store: WebhookStore) -> None:
        endpoint = make_endpoint(someone())
        delivery = make_delivery(endpoint)
        assert store.put_delivery_if_absent(delivery) is True
        assert store.put_delivery_if_absent(delivery.revised(T0, body="{}")) is False
        assert store.get_delivery(endpoint.endpoint_id, delivery.delivery_id) == delivery

    def test_a_delivery_reads_back_with_its_attempts(self, store: WebhookStore) -> None:
        endpoint = make_endpoint(someone())
        delivery = make_delivery(endpoint)
        store.put_delivery_if_absent(delivery)
        failed = Attempt(number=1, at=T0, status_code=None, latency_ms=10_000, error="timed out after 10 s")
        answered = Attempt(number=2, at=T0 + 5 * SECOND, status_code=500, latency_ms=3, response_excerpt="oops \u2603")
        after = delivery.with_attempt(failed, T0).with_attempt(answered, T0 + 5 * SECOND, last_error="HTTP 500")
        store.save_delivery(after)
        stored = store.get_delivery(endpoint.endpoint_id, delivery.delivery_id)
        assert stored == after
        assert stored.attempts == (failed, answered)
        assert stored.body == delivery.body

    @pytest.mark.parametrize("known_endpoint", [True, False])
    def test_an_unknown_delivery_is_not_found(self, store: WebhookStore, known_endpoint: bool) -> None:
        endpoint, other = make_endpoint(someone()), make_endpoint(someone())
        delivery = make_delivery(endpoint)
        store.put_delivery_if_absent(delivery)
        with pytest.raises(DeliveryNotFound):
            store.get_delivery((endpoint if known_endpoint else other).endpoint_id, make_delivery(endpoint).delivery_id)
        with pytest.raises(DeliveryNotFound):
            store.get_delivery(other.endpoint_id, delivery.delivery_id)
        with pytest.raises(DeliveryNotFound):
            store.get_delivery(endpoint.endpoint_id, "msg_../../x")

    def test_saving_over_a_stale_delivery_is_a_concurrent_change(self, store: WebhookStore) -> None:
        endpoint = make_endpoint(someone())
        delivery = make_delivery(endpoint)
        store.put_delivery_if_absent(delivery)
        first = delivery.revised(T0 + SECOND, status=DeliveryStatus.SUCCEEDED, next_attempt_at=None)
        store.save_delivery(first, delivery)
        with pytest.raises(ConcurrentChange):
            store.save_delivery(delivery.revised(T0 + SECOND, status=DeliveryStatus.DEAD), delivery)
        assert store.get_delivery(endpoint.endpoint_id, delivery.delivery_id) == first
        second = first.revised(T0 + 2 * SECOND, status=DeliveryStatus.PENDING)
        store.save_delivery(second, first)
        assert store.get_delivery(endpoint.endpoint_id, delivery.delivery_id) == second

    def test_saving_a_delivery_never_stored_is_not_found(self, store: WebhookStore) -> None:
        delivery = make_delivery(make_endpoint(someone()))
        with pytest.raises(DeliveryNotFound):
            store.save_delivery(delivery.revised(T0), delivery)
        with pytest.raises(DeliveryNotFound):
            store.save_delivery(delivery.revised(T0))

    def test_a_delivery_is_deleted_only_as_it_was_put(self, store: WebhookStore) -> None:
        endpoint = make_endpoint(someone())
        untouched, attempted = make_delivery(endpoint, 1), make_delivery(endpoint, 2)
        for delivery in (untouched, attempted):
            store.put_delivery_if_absent(delivery)
        store.save_delivery(attempted.revised(T0 + SECOND, status=DeliveryStatus.SUCCEEDED), attempted)

        store.delete_delivery(untouched)
        store.delete_delivery(attempted)
        store.delete_delivery(untouched)  # gone already: nothing to do

        with pytest.raises(DeliveryNotFound):
            store.get_delivery(endpoint.endpoint_id, untouched.delivery_id)
        assert store.get_delivery(endpoint.endpoint_id, attempted.delivery_id).status is DeliveryStatus.SUCCEEDED

    def test_deliveries_are_listed_newest_first_page_by_page(self, store: WebhookStore) -> None:
        endpoint, other = make_endpoint(someone()), make_endpoint(someone())
        deliveries = [make_delivery(endpoint, n) for n in range(7)]
        for delivery in deliveries:
            store.put_delivery_if_absent(delivery)
        store.put_delivery_if_absent(make_delivery(other, 3))

        pages: list[list[Delivery]] = []
        cursor: str | None = None
        while True:
            page, cursor = store.list_deliveries(endpoint.endpoint_id, 3, cursor)
            pages.append(page)
            if cursor is None:
                break
        assert [len(page) for page in pages] == [3, 3, 1]
        assert [d for page in pages for d in page] == deliveries[::-1]

    def test_a_full_last_page_has_no_cursor(self, store: WebhookStore) -> None:
        endpoint = make_endpoint(someone())
        for n in range(4):
            store.put_delivery_if_absent(make_delivery(endpoint, n))
        first, cursor = store.list_deliveries(endpoint.endpoint_id, 2)
        assert cursor is not None
        second, cursor = store.list_deliveries(endpoint.endpoint_id, 2, cursor)
        assert (len(first), len(second), cursor) == (2, 2, None)
        assert store.list_deliveries(endpoint.endpoint_id, 4) == ([*first, *second], None)

    def test_an_endpoint_without_deliveries_lists_none(self, store: WebhookStore) -> None:
        assert store.list_deliveries(make_endpoint(someone()).endpoint_id) == ([], None)

    def test_a_cursor_is_valid_for_its_endpoint_only(self, store: WebhookStore) -> None:
        endpoint, other = make_endpoint(someone()), make_endpoint(someone())
        for n in range(3):
            store.put_delivery_if_absent(make_delivery(endpoint, n))
        _, cursor = store.list_deliveries(endpoint.endpoint_id, 1)
        assert cursor is not None
        for bad in (cursor, "not-a-cursor", "", "e30"):
            with pytest.raises(InvalidCursor):
                store.list_deliveries(other.endpoint_id, 1, bad)

    @pytest.mark.parametrize("limit", [0, 101])
    def test_the_page_size_is_bounded(self, store: WebhookStore, limit: int) -> None:
        with pytest.raises(ValueError, match="limit"):
            store.list_deliveries(make_endpoint(someone()).endpoint_id, limit)
