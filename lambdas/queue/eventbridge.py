"""QueueSignals on EventBridge: `Job Queued` / `Job Finished` on the deployment's bus, where a rule invokes
the scheduler (the state machine puts the same `Job Finished` from its ASL)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambdas.aws_errors import SdkErrors
from lambdas.events import API_SOURCE, FINISHED, QUEUED, bus_entry
from lambdas.queue.ports import QueueSignals

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient


class SignalsUnavailable(Exception):
    """EventBridge throttled, failed or refused the event."""


_translated = SdkErrors[SignalsUnavailable](transient=SignalsUnavailable, otherwise=SignalsUnavailable).translated


class EventBridgeSignals:
    def __init__(self, client: EventBridgeClient, bus: str) -> None:
        self._client, self._bus = client, bus

    def _put(self, detail_type: str, job_id: str) -> None:
        entry: Any = bus_entry(detail_type, API_SOURCE, job_id, self._bus)
        with _translated(f"put {detail_type}"):
            response = self._client.put_events(Entries=[entry])
        if response.get("FailedEntryCount"):
            raise SignalsUnavailable(f"EventBridge refused {detail_type}: {response['Entries']}")

    def queued(self, job_id: str) -> None:
        self._put(QUEUED, job_id)

    def finished(self, job_id: str) -> None:
        self._put(FINISHED, job_id)


if TYPE_CHECKING:

    def _implements_port(signals: EventBridgeSignals) -> QueueSignals:
        return signals
