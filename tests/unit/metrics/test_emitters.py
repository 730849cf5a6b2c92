"""Where the metrics are emitted: PublishEvents measures the terminal writes of the records it got through (never
the reported one nor those after it, which the stream redelivers), once per job revision in a batch; the scheduler's
tick measures the waiting line. Fakes of our own ports stand in for the bus, the queue and the sink."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from lambdas.feed.model import FeedEvent
from lambdas.handlers import _wiring as wiring
from lambdas.handlers import publish_events, schedule_jobs
from lambdas.jobs.model import JobStatus, utc_now
from lambdas.jobs.transitions import transition
from lambdas.metrics import model as m
from lambdas.metrics.model import MetricRecord
from lambdas.queue.backlog import backlog
from lambdas.queue.config import QueueConfig
from lambdas.queue.scheduler import Scheduler
from tests.fakes.api import InMemoryUploadStore, InMemoryWorkflow
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.queue import InMemoryQueueStore
from tests.unit.feed.test_records import T0, a_job, job_record
from tests.unit.handlers.conftest import FakeContext
from tests.unit.metrics.test_jobs import SOURCE, ended, started

S = JobStatus


class Sink:
    def __init__(self) -> None:
        self.records: list[MetricRecord] = []

    def emit(self, records: Sequence[MetricRecord]) -> None:
        self.records.extend(records)


class Feed:
    """Takes every event but those of `refused_jobs`."""

    def __init__(self, refused_jobs: set[str] | None = None) -> None:
        self.refused = refused_jobs or set()

    def publish(self, events: Sequence[FeedEvent]) -> list[FeedEvent]:
        return [e for e in events if e.job_id in self.refused]


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> Sink:
    sink = Sink()
    monkeypatch.setattr(wiring, "metrics", lambda: sink)
    return sink


def batch(*records: dict[str, Any]) -> dict[str, Any]:
    for number, record in enumerate(records, start=1):
        record["dynamodb"]["SequenceNumber"] = f"{number:021d}"
    return {"Records": list(records)}


def ends(sink: Sink) -> list[tuple[str, str]]:
    return [(dict(r.metadata)["job_id"], r.measurements[0].name) for r in sink.records]  # type: ignore[misc]


def test_terminal_writes_are_measured_once_each_and_other_writes_not(
    monkeypatch: pytest.MonkeyPatch, sink: Sink
) -> None:
    monkeypatch.setattr(wiring, "feed", Feed)
    one, two = started(), started()
    done, failed = ended(one, S.COMPLETED), ended(two, S.FAILED, 1, error_type="EncodeFailed")
    answer = publish_events.handler(
        batch(job_record(one, done), job_record(two, failed), job_record(one, done), job_record(None, one)),
        FakeContext(),
    )
    assert answer == {"batchItemFailures": []}
    assert ends(sink) == [
        (done.job_id, m.JOBS_COMPLETED),
        (failed.job_id, m.JOBS_FAILED),
        (failed.job_id, m.JOBS_FAILED),
    ]
    assert [r.dimension_sets[0] for r in sink.records[1:]] == [(), (("ErrorType", "EncodeFailed"),)]


def test_the_reported_record_and_those_after_it_are_not_measured_the_retry_will(
    monkeypatch: pytest.MonkeyPatch, sink: Sink
) -> None:
    one, two, three = started(), started(), started()
    monkeypatch.setattr(wiring, "feed", lambda: Feed({two.job_id}))
    records = [job_record(job, ended(job, S.COMPLETED)) for job in (one, two, three)]
    answer = publish_events.handler(batch(*records), FakeContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": f"{2:021d}"}]}
    assert ends(sink) == [(one.job_id, m.JOBS_COMPLETED)]


def test_the_tick_measures_the_waiting_line(monkeypatch: pytest.MonkeyPatch, sink: Sink) -> None:
    repo = InMemoryJobRepository()
    store = InMemoryQueueStore(repo)
    config = QueueConfig(max_running_jobs=1)
    scheduler = Scheduler(store, repo, InMemoryWorkflow(), InMemoryUploadStore(), config)
    monkeypatch.setattr(wiring, "scheduler", lambda: scheduler)
    monkeypatch.setattr(wiring, "queue_store", lambda: store)
    now = utc_now()
    for minutes in (30, 20, 10):
        repo.create(transition(a_job(source=SOURCE), S.QUEUED, now - timedelta(minutes=minutes)))
    tick = {
        "version": "0",
        "id": "tick-1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": "2026-03-01T12:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:000000000000:rule/tick"],
        "detail": {},
    }
    answer = schedule_jobs.handler(tick, FakeContext())
    assert len(answer["admitted"]) == 1  # the oldest took the one slot: two wait, the older since 20 min
    [record] = sink.records
    measured = {x.name: x.value for x in record.measurements}
    assert measured[m.QUEUED_JOBS] == 2
    assert 20 * 60 <= measured[m.OLDEST_QUEUED_SECONDS] < 21 * 60


def test_the_backlog_counts_queued_jobs_only_and_is_zero_when_nothing_waits() -> None:
    uploading = a_job(source=SOURCE)
    queued = transition(a_job(source=SOURCE), S.QUEUED, T0)
    assert backlog([uploading, queued], T0 + timedelta(seconds=90)).__dict__ == {"queued": 1, "oldest_wait_s": 90.0}
    assert backlog([], T0).__dict__ == {"queued": 0, "oldest_wait_s": 0.0}
