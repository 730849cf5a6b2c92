"""The EMF lines Powertools writes for our records: valid by the specification, in the deployment's namespace, every
dimension set led by `service`, units and values as measured, the job's id searchable; one line per record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lambdas.jobs.model import JobOutputs, JobStatus
from lambdas.metrics import model as m
from lambdas.metrics.emf import EmfMetrics
from lambdas.metrics.jobs import job_metrics
from lambdas.metrics.model import Measurement, MetricRecord, Unit
from lambdas.metrics.queue import backlog_metrics
from lambdas.queue.backlog import Backlog
from tests.unit.metrics.emf_spec import dimension_sets, emf_documents, emf_problems, metrics_of
from tests.unit.metrics.test_jobs import FILES, ended, started

S = JobStatus
SERVICE = "VodpipePipeline"


def lines(capsys: pytest.CaptureFixture[str], records: list[MetricRecord]) -> list[dict[str, object]]:
    EmfMetrics("vodpipe", SERVICE).emit(records)
    out = capsys.readouterr().out
    documents = emf_documents(out)
    assert len(documents) == len(out.strip().splitlines())  # nothing else on stdout
    return documents


def test_a_completed_job_is_one_valid_emf_line(capsys: pytest.CaptureFixture[str]) -> None:
    job = started()
    done = ended(job, S.COMPLETED, outputs=JobOutputs(files=FILES, encode_cpu_seconds=41.5))
    [line] = lines(capsys, job_metrics(job, done))
    assert emf_problems(line) == []
    [directive] = line["_aws"]["CloudWatchMetrics"]  # type: ignore[index]
    assert directive["Namespace"] == "vodpipe"
    assert directive["Dimensions"] == [["service"], ["service", "PriorityClass"]]
    assert dimension_sets(line) == [{"service": SERVICE}, {"service": SERVICE, "PriorityClass": "normal"}]
    assert metrics_of(line) == {
        "JobsCompleted": ("Count", 1.0),
        "JobDuration": ("Seconds", 60.0),
        "QueueWait": ("Seconds", 12.0),
        "EncodeCpuSeconds": ("Seconds", 41.5),
        "OutputBytes": ("Bytes", 801_000.0),
        "SourceBytes": ("Bytes", 2_000_000.0),
    }
    assert line["_aws"]["Timestamp"] == round(done.completed_at.timestamp() * 1000)  # type: ignore[index, union-attr]
    assert (line["job_id"], line["revision"], line["status"]) == (done.job_id, done.revision, "COMPLETED")


def test_a_failure_is_two_lines_the_second_by_error_type_alone(capsys: pytest.CaptureFixture[str]) -> None:
    job = started()
    whole, by_type = lines(capsys, job_metrics(job, ended(job, S.FAILED, 3, error_type="SourceUnreadable")))
    assert emf_problems(whole) == emf_problems(by_type) == []
    assert "JobsFailed" in metrics_of(whole)
    assert dimension_sets(by_type) == [{"ErrorType": "SourceUnreadable", "service": SERVICE}]
    assert metrics_of(by_type) == {"JobsFailed": ("Count", 1.0)}
    assert "PriorityClass" not in by_type  # nothing of the first line's dimensions leaks into the next


def test_the_ticks_backlog_is_one_line_under_service(capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    [line] = lines(capsys, backlog_metrics(Backlog(queued=3, oldest_wait_s=95.5), now))
    assert emf_problems(line) == []
    assert dimension_sets(line) == [{"service": SERVICE}]
    assert metrics_of(line) == {"OldestQueuedSeconds": ("Seconds", 95.5), "QueuedJobs": ("Count", 3.0)}


def test_a_record_that_cannot_be_written_is_logged_and_the_next_still_is(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    now = datetime.now(UTC)
    broken = MetricRecord(timestamp=now, measurements=(Measurement("", Unit.COUNT, 1),), key=("bad",))
    fine = MetricRecord(timestamp=now + timedelta(seconds=1), measurements=(Measurement(m.QUEUED_JOBS, Unit.COUNT, 0),))
    EmfMetrics("vodpipe", SERVICE).emit([broken, fine])
    captured = capsys.readouterr()
    assert [metrics_of(d) for d in emf_documents(captured.out)] == [{"QueuedJobs": ("Count", 0.0)}]
    assert [r.levelname for r in caplog.records if r.getMessage() == "metric record not written"] == ["ERROR"]
