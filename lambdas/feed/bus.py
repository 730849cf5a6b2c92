"""The feed on EventBridge: PutEvents on the feed's custom bus, in requests within EventBridge's limits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from lambdas.aws_errors import SdkErrors
from lambdas.feed.model import FeedEvent
from lambdas.feed.ports import FeedError, FeedPublisher, FeedRefused, FeedUnavailable

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

# PutEvents: at most 10 entries and 256 KB per request, entries sized as EventBridge counts them.
MAX_ENTRIES = 10
MAX_REQUEST_BYTES = 256 * 1024
_TIME_BYTES = 14

_translated = SdkErrors[FeedError](transient=FeedUnavailable, otherwise=FeedRefused).translated


def entry_size(event: FeedEvent) -> int:
    """The size EventBridge counts for the event's entry (Time, Source, DetailType and Detail, in UTF-8)."""
    return _TIME_BYTES + sum(len(text.encode()) for text in (event.source, event.detail_type, event.body()))


def batches(events: Sequence[FeedEvent]) -> Iterator[list[FeedEvent]]:
    """Consecutive runs of `events`, each a request within the limits; an event too large for any is alone."""
    batch: list[FeedEvent] = []
    size = 0
    for event in events:
        event_size = entry_size(event)
        if batch and (len(batch) == MAX_ENTRIES or size + event_size > MAX_REQUEST_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += event_size
    if batch:
        yield batch


class EventBridgeFeed:
    def __init__(self, client: EventBridgeClient, bus_name: str) -> None:
        self._client, self._bus = client, bus_name

    def _entry(self, event: FeedEvent) -> PutEventsRequestEntryTypeDef:
        return {
            "Time": event.timestamp,
            "Source": event.source,
            "DetailType": event.detail_type,
            "Detail": event.body(),
            "EventBusName": self._bus,
        }

    def publish(self, events: Sequence[FeedEvent]) -> list[FeedEvent]:
        failed: list[FeedEvent] = []
        for batch in batches(events):
            if len(batch) == 1 and entry_size(batch[0]) > MAX_REQUEST_BYTES:
                failed.extend(batch)  # EventBridge would refuse the whole request
                continue
            with _translated(f"put events on {self._bus}"):
                response = self._client.put_events(Entries=[self._entry(event) for event in batch])
            if not response.get("FailedEntryCount"):
                continue
            results = response.get("Entries", [])
            # The results are the entries' own, in order; one missing is not known to be published.
            failed.extend(
                event
                for index, event in enumerate(batch)
                if index >= len(results) or results[index].get("ErrorCode") or not results[index].get("EventId")
            )
        return failed


if TYPE_CHECKING:

    def _implements_port(feed: EventBridgeFeed) -> FeedPublisher:
        return feed
