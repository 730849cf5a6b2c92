"""POST /jobs/{id}/clips and an upload's own clip: who may clip what, the ranges refused, the job made."""

from __future__ import annotations

from typing import Any

import pytest

from lambdas.jobs.model import ClipMode, ClipResult, JobKind, JobOutputs, JobStatus, OutputKind
from tests.unit.api.conftest import ALICE, BOB, UPLOADS, Api
from tests.unit.api.test_jobs import finish, processing, queued


def probed(api: Api, *, duration: float = 10.0, user: str = ALICE, status: JobStatus = JobStatus.COMPLETED) -> str:
    """A job of `user` whose source is stored and was probed `duration` s long, left in `status`."""
    job_id = queued(api, user=user)
    job = api.repo.get(job_id)
    api.outputs.put_bytes(UPLOADS, job.source.key, b"source bytes")  # the uploads bucket, as S3 keeps it
    processing(api, job_id, f"arn:aws:states:us-east-1:000000000000:execution:transcode:{job_id}-a0")
    assert api.repo.record_source_duration(job_id, duration)
    if status is not JobStatus.PROCESSING:
        finish(api, job_id, status, **({"progress": 100} if status is JobStatus.COMPLETED else {}))
    return job_id


def clip(api: Api, job_id: str, body: dict[str, Any], user: str = ALICE) -> Any:
    return api.call("POST", f"/jobs/{job_id}/clips", body, user=user)


def test_a_clip_is_a_queued_job_of_its_own_cut_from_the_parents_source(api: Api) -> None:
    parent_id = probed(api)
    answer = clip(api, parent_id, {"start_s": 2.5, "end_s": 7.25})
    assert answer.status == 201, answer.body
    job = api.repo.get(answer.body["job_id"])
    parent = api.repo.get(parent_id)
    assert (job.kind, job.parent_job_id, job.source) == (JobKind.CLIP, parent_id, parent.source)
    assert job.clip is not None
    assert (job.clip.start_s, job.clip.end_s, job.clip.mode) == (2.5, 7.25, ClipMode.EXACT)
    assert job.requested_outputs == parent.requested_outputs  # the default preset's, like any job
    # Signalled as a retry is: the scheduler admitted it at once (a free slot) and started its execution.
    started = {e.arn for e in api.workflow.executions.values()}
    assert job.status is JobStatus.PROCESSING
    assert job.execution_arn in started
    assert answer.body["status"] == "QUEUED"  # as created


def test_a_fast_clip_makes_one_mp4(api: Api) -> None:
    parent_id = probed(api)
    answer = clip(api, parent_id, {"start_s": 1, "end_s": 3, "mode": "fast"})
    assert answer.status == 201, answer.body
    assert answer.body["requested_outputs"] == ["mp4"]
    assert answer.body["clip"]["mode"] == "fast"
    refused = clip(api, parent_id, {"start_s": 1, "end_s": 3, "mode": "fast", "outputs": ["hls", "mp4"]})
    assert (refused.status, refused.error()) == (422, ("validation_error", "outputs"))
    assert "hls" in refused.body["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start_s": 3, "end_s": 3}, "end_s"),
        ({"start_s": 4, "end_s": 3}, "end_s"),
        ({"start_s": 3, "end_s": 3.05}, "end_s"),  # shorter than 0.1 s
        ({"start_s": 2, "end_s": 10.5}, "end_s"),  # past the 10 s source
        ({"start_s": 10, "end_s": 10.5}, "start_s"),
        ({"start_s": -1, "end_s": 3}, "start_s"),  # the model's own bound
        ({"start_s": 1, "end_s": 3, "preset": "nope"}, "preset"),
        ({"start_s": 1, "end_s": 3, "renditions": ["4320p"]}, "renditions"),
    ],
)
def test_a_bad_range_or_request_is_a_422_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    parent_id = probed(api)
    answer = clip(api, parent_id, body)
    assert answer.status == 422, answer.body
    assert answer.body["field"] == field, answer.body


def test_a_clip_longer_than_the_deployments_maximum_is_refused(api: Api) -> None:
    parent_id = probed(api, duration=3600)
    answer = clip(api, parent_id, {"start_s": 0, "end_s": 601})
    assert (answer.status, answer.body["field"]) == (422, "end_s")
    assert "600" in answer.body["message"]
    assert clip(api, parent_id, {"start_s": 0, "end_s": 600}).status == 201


def test_another_owners_job_is_not_found(api: Api) -> None:
    parent_id = probed(api, user=BOB)
    assert clip(api, parent_id, {"start_s": 1, "end_s": 2}).status == 404
    assert clip(api, parent_id, {"start_s": 1, "end_s": 2}, user=BOB).status == 201


def test_a_parent_not_probed_yet_is_a_conflict(api: Api) -> None:
    job_id = queued(api)
    answer = clip(api, job_id, {"start_s": 1, "end_s": 2})
    assert answer.status == 409
    assert "probed" in answer.body["message"]


def test_a_parent_whose_source_is_gone_is_a_conflict(api: Api) -> None:
    parent_id = probed(api)
    api.outputs.delete_prefix(UPLOADS, api.repo.get(parent_id).source.key)
    answer = clip(api, parent_id, {"start_s": 1, "end_s": 2})
    assert answer.status == 409
    assert "no longer stored" in answer.body["message"]


def test_a_failed_parent_that_was_probed_can_be_clipped(api: Api) -> None:
    parent_id = probed(api, status=JobStatus.FAILED)
    assert clip(api, parent_id, {"start_s": 1, "end_s": 2}).status == 201


def test_a_clip_of_a_clip_counts_from_where_the_parent_clip_really_starts(api: Api) -> None:
    source_id = probed(api, duration=20)
    first = clip(api, source_id, {"start_s": 5.3, "end_s": 12, "mode": "fast"}).body["job_id"]
    job = api.repo.get(first)
    made = ClipResult(mode=ClipMode.FAST, start_s=5.0, start_shift_s=0.3, duration_s=7.0)
    api.repo.record_source_duration(first, 20)
    finish(api, first, JobStatus.COMPLETED, progress=100, outputs=JobOutputs(clip=made))
    assert job.clip is not None
    second = clip(api, first, {"start_s": 1, "end_s": 6.5})
    assert second.status == 201, second.body
    assert (second.body["clip"]["start_s"], second.body["clip"]["end_s"]) == (6.0, 11.5)
    past = clip(api, first, {"start_s": 1, "end_s": 7.5})  # the parent clip is 7 s long
    assert (past.status, past.body["field"]) == (422, "end_s")


def test_an_upload_may_ask_for_a_clip_only(api: Api) -> None:
    created = api.upload(clip={"start_s": 1.0, "end_s": 4.0, "mode": "fast"})
    job = api.repo.get(created["job"]["job_id"])
    assert job.kind is JobKind.CLIP
    assert job.parent_job_id is None
    assert job.clip is not None
    assert (job.clip.start_s, job.clip.end_s) == (1.0, 4.0)
    assert job.requested_outputs == (OutputKind.MP4,)
    too_long = api.call(
        "POST",
        "/uploads",
        {"file_name": "a.mp4", "size": 1000, "clip": {"start_s": 0, "end_s": 700}},
    )
    assert (too_long.status, too_long.body["field"]) == (422, "end_s")
