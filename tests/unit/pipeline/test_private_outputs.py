"""A private job through every step: each writes under private/{job}/ only, and nothing stores a playback link."""

from __future__ import annotations

import json
from pathlib import Path

from lambdas import keys
from lambdas.jobs.model import Job, JobStatus, OutputKind, Source, new_job_id, utc_now
from lambdas.jobs.transitions import transition
from lambdas.pipeline.config import JobRef, PipelineConfig
from lambdas.pipeline.encode import encode
from lambdas.pipeline.package import PackageResult, package
from lambdas.pipeline.probe import ProbeRequest, probe
from lambdas.pipeline.publish import PublishRequest, publish
from lambdas.pipeline.thumbnails import ThumbnailsRequest, make_thumbnails
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.storage import DirectoryMediaStore
from tests.unit.pipeline.conftest import (
    OUTPUTS,
    UPLOADS,
    encode_request,
    item_ids,
    needs_ffmpeg,
    package_request,
    upload_key,
)


def processing(repo: InMemoryJobRepository, store: DirectoryMediaStore, clip: Path, config: PipelineConfig) -> Job:
    job_id = new_job_id()
    job = Job.new(
        job_id=job_id,
        owner="alice",
        source=Source(bucket=UPLOADS, key=upload_key(job_id)),
        requested_renditions=tuple(r.name for r in config.ladder.rungs),
        requested_outputs=(OutputKind.HLS, OutputKind.MP4, OutputKind.THUMBNAILS),
        now=utc_now(),
        private=True,
    )
    store.put_bytes(UPLOADS, job.source.key, clip.read_bytes())
    repo.create(job)
    queued = repo.save_transition(job, transition(job, JobStatus.QUEUED, utc_now()))
    return repo.save_transition(queued, transition(queued, JobStatus.PROCESSING, utc_now()))


@needs_ffmpeg
def test_every_step_of_a_private_job_writes_under_private_and_publishes_no_link(
    repo: InMemoryJobRepository, store: DirectoryMediaStore, per_segment: PipelineConfig, clips: dict[str, Path]
) -> None:
    job = processing(repo, store, clips["three_seconds"], per_segment)
    planned = probe(ProbeRequest(job=JobRef(job_id=job.job_id)), repo, store, per_segment)
    thumbnails = make_thumbnails(
        ThumbnailsRequest(job=JobRef(job_id=job.job_id), media=planned.media, thumbnails=planned.thumbnails),
        repo,
        store,
        per_segment,
    )
    previews = []
    for item_id in item_ids(store, planned):  # the leading chunks first: a growing preview is published
        encode(encode_request(job.job_id, planned, item_id), repo, store, per_segment)
        previews.append(repo.get(job.job_id).playable_url)
    result = package(package_request(job, planned, thumbnails), repo, store, per_segment)
    done = publish(
        PublishRequest(
            job=JobRef(job_id=job.job_id),
            outputs=PackageResult.model_validate(json.loads(result.model_dump_json())),
        ),
        repo,
        per_segment,
    )

    public, private = keys.output_prefix(job.job_id), keys.output_prefix(job.job_id, private=True)
    assert store.list_prefix(OUTPUTS, public) == []
    written = {o.key for o in store.list_prefix(OUTPUTS, private)}
    assert keys.master_key(job.job_id, private=True) in written
    assert keys.dash_key(job.job_id, private=True) in written
    assert keys.quality_key(job.job_id, private=True) in written
    assert any(k.startswith(keys.thumbnails_prefix(job.job_id, private=True)) for k in written)
    assert any(k.startswith(private + "mp4/") for k in written)
    assert done.status is JobStatus.COMPLETED
    assert done.outputs is not None
    assert done.outputs.playback_url is None
    assert done.outputs.dash_url is None
    assert done.outputs.manifest_key == keys.master_key(job.job_id, private=True)
    assert all(f.key.startswith(private) for f in done.outputs.files)
    assert all(f.url is None for f in done.outputs.files)
    # The preview (while encoding) points at the private master, which only a signed answer opens.
    assert any(previews)
    assert {p for p in previews if p} == {f"https://cdn.example.com/{keys.master_key(job.job_id, private=True)}"}
