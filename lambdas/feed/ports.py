"""Where feed events go: the port the stream handler publishes through, and its errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from lambdas.feed.model import FeedEvent


class FeedError(Exception):
    """The feed could not take a call at all (no event of it is known to be published)."""


class FeedUnavailable(FeedError):
    """Throttled, a server error or a lost connection: worth trying the same events again."""


class FeedRefused(FeedError):
    """Refused for good (no such bus, access denied, invalid request): a retry will not help."""


class FeedPublisher(Protocol):
    def publish(self, events: Sequence[FeedEvent]) -> list[FeedEvent]:
        """Publish `events` in order; those the feed did not take (each may be published again later: consumers
        dedupe by id). Raises FeedUnavailable or FeedRefused when a whole call fails: events of earlier calls may
        then be published already."""
        ...
