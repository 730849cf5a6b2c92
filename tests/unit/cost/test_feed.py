"""The usage writes on the job item are in the stream too: the feed must derive no event from them, nor from the
estimate ProbeSource writes (a field of the job view, but no news)."""

from __future__ import annotations

from typing import Any

from lambdas.api.models import public_job
from lambdas.cost.estimate import CostConfig, PlannedItem, PlanShape, estimate
from lambdas.cost.model import JobCost
from lambdas.cost.usage import Invocation
from lambdas.feed.derive import derive
from lambdas.feed.records import parse_record
from lambdas.jobs import schema
from lambdas.jobs.items import job_from_item, to_wire
from lambdas.jobs.model import JobStatus, JobStep
from tests.unit.feed.test_records import T0, a_job, job_item, stream_record


def view(job: Any) -> dict[str, Any]:
    return public_job(job).model_dump(mode="json")


def no_load(job_id: str) -> None:
    raise AssertionError(job_id)


def events(old: dict[str, Any], new: dict[str, Any]) -> list[Any]:
    return derive(parse_record(stream_record(old, new)), view=view, load_job=no_load)


def usage(*request_ids: str) -> set[str]:
    return {
        Invocation(function="EncodeChunk", request_id=r, memory_mb=3008, billed_ms=900).encode() for r in request_ids
    }


def test_a_usage_only_write_yields_no_event_and_is_no_job_field() -> None:
    job = a_job(status=JobStatus.PROCESSING, started_at=T0, queued_at=T0, current_step=JobStep.TRANSCODE)
    before = job_item(job) | {schema.USAGE_ATTRIBUTE: usage("a")}
    after = job_item(job) | {schema.USAGE_ATTRIBUTE: usage("a", "b")}
    assert events(job_item(job), before) == []
    assert events(before, after) == []
    assert job_from_item(to_wire(after)) == job  # read back without it


def test_the_estimate_is_in_the_job_view_but_no_event() -> None:
    job = a_job(status=JobStatus.PROCESSING, started_at=T0, queued_at=T0, current_step=JobStep.PLAN, progress=5)
    shape = PlanShape(
        duration_s=2,
        source_bytes=1000,
        pieces=1,
        items=(PlannedItem(weight=1, segments=1, tracks=1),),
        rungs=1,
        bitrate_kbps=500,
    )
    costed = job.model_copy(update={"cost": JobCost(estimate=estimate(shape, CostConfig())), "revision": 2})
    assert view(costed)["cost"]["estimate"]["total_usd"] > 0
    assert events(job_item(job), job_item(costed)) == []
