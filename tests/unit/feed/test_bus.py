"""The feed on EventBridge: every event on the bus in order, requests within PutEvents' limits, refused entries
handed back, whole-call failures typed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from lambdas.feed.bus import EventBridgeFeed
from lambdas.feed.model import EventType, FeedEvent, event_id
from lambdas.feed.ports import FeedRefused, FeedUnavailable

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BUS = "vodpipe-feed"


def _error(code: str, status: int = 400) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "PutEvents")


class FakeEventBridge:
    """PutEvents as EventBridge answers it: a request over its limits refused whole, entries refused one by one
    (those whose event id is in `refuse`), the call failing with `errors` in turn."""

    def __init__(self, *, refuse: Sequence[str] = (), errors: Sequence[Exception | None] = ()) -> None:
        self.buses: dict[str, list[dict[str, Any]]] = {}
        self.refuse = set(refuse)
        self.errors = list(errors)

    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if self.errors and (error := self.errors.pop(0)) is not None:
            raise error
        size = sum(
            (14 if "Time" in entry else 0)
            + sum(len(entry.get(name, "").encode()) for name in ("Source", "DetailType", "Detail"))
            for entry in Entries
        )
        if not 1 <= len(Entries) <= 10 or size > 256 * 1024:
            raise _error("ValidationException")
        results: list[dict[str, Any]] = []
        for entry in Entries:
            if json.loads(entry["Detail"])["id"] in self.refuse:
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
                continue
            bus = self.buses.setdefault(entry["EventBusName"], [])
            bus.append(entry)
            results.append({"EventId": f"eb-{len(bus)}"})
        return {"FailedEntryCount": sum("ErrorCode" in result for result in results), "Entries": results}

    def ids(self, bus: str = BUS) -> list[str]:
        return [json.loads(entry["Detail"])["id"] for entry in self.buses.get(bus, [])]


def events(count: int, *, padding: int = 0) -> list[FeedEvent]:
    return [
        FeedEvent(
            id=event_id("job", "J", n, "job.progress"),
            type=EventType.JOB_PROGRESS,
            timestamp=T0 + timedelta(seconds=n),
            job_id="J",
            owner="alice",
            version=n,
            sequence=0,
            data={"progress": n % 100, "padding": "x" * padding},
        )
        for n in range(1, count + 1)
    ]


def feed(client: FakeEventBridge) -> EventBridgeFeed:
    return EventBridgeFeed(client, BUS)  # type: ignore[arg-type]


def test_every_event_reaches_the_bus_in_order_as_its_body() -> None:
    client = FakeEventBridge()
    sent = events(25)
    assert feed(client).publish(sent) == []
    assert client.ids() == [event.id for event in sent]
    first = client.buses[BUS][0]
    assert (first["Source"], first["DetailType"], first["Detail"], first["Time"]) == (
        "vodpipe.jobs",
        "Job Progress",
        sent[0].body(),
        sent[0].timestamp,
    )


def test_webhook_events_go_out_under_their_own_source() -> None:
    client = FakeEventBridge()
    disabled = FeedEvent(
        id=event_id("webhook", "wh_01", "777"),
        type=EventType.WEBHOOK_DISABLED,
        timestamp=T0,
        job_id=None,
        owner="alice",
        version=0,
        sequence=0,
        data={"id": "wh_01", "status": "disabled"},
    )
    assert feed(client).publish([disabled]) == []
    assert (client.buses[BUS][0]["Source"], client.buses[BUS][0]["DetailType"]) == (
        "vodpipe.webhooks",
        "Webhook Disabled",
    )


def test_nothing_to_publish_calls_nothing() -> None:
    client = FakeEventBridge(errors=[_error("ThrottlingException")])
    assert feed(client).publish([]) == []
    assert client.buses == {}


def test_refused_entries_are_handed_back_the_rest_published() -> None:
    sent = events(23)
    refused = [sent[3], sent[11], sent[22]]
    client = FakeEventBridge(refuse=[event.id for event in refused])
    assert feed(client).publish(sent) == refused
    assert client.ids() == [event.id for event in sent if event not in refused]


def test_large_events_are_split_within_the_request_size() -> None:
    client = FakeEventBridge()
    sent = events(9, padding=100_000)  # about 100 KB each: two per request
    assert feed(client).publish(sent) == []
    assert client.ids() == [event.id for event in sent]


def test_an_event_too_large_for_any_request_is_handed_back() -> None:
    client = FakeEventBridge()
    sent = events(3)
    huge = events(4, padding=300_000)[3]
    assert feed(client).publish([sent[0], huge, *sent[1:]]) == [huge]
    assert client.ids() == [event.id for event in sent]


@pytest.mark.parametrize(
    "error",
    [
        _error("ThrottlingException"),
        _error("InternalException", 500),
        _error("ServiceUnavailable", 503),
        EndpointConnectionError(endpoint_url="https://events.us-east-1.amazonaws.com"),
    ],
)
def test_a_call_that_may_succeed_later_is_unavailable(error: Exception) -> None:
    client = FakeEventBridge(errors=[None, error])
    sent = events(15)
    with pytest.raises(FeedUnavailable):
        feed(client).publish(sent)
    assert client.ids() == [event.id for event in sent[:10]]  # the first request went out: ids dedupe a retry


@pytest.mark.parametrize("code", ["AccessDeniedException", "ResourceNotFoundException"])
def test_a_call_refused_for_good_is_refused(code: str) -> None:
    with pytest.raises(FeedRefused):
        feed(FakeEventBridge(errors=[_error(code)])).publish(events(1))


def test_entries_without_a_result_are_not_known_published() -> None:
    class Truncating(FakeEventBridge):
        def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            response = super().put_events(Entries=Entries)
            return {"FailedEntryCount": 1, "Entries": response["Entries"][:-1]}

    sent = events(3)
    assert feed(Truncating()).publish(sent) == [sent[-1]]
