"""ProbeSource on real ffprobe: a good file becomes a plan; bad ones become typed errors, the source kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambdas.jobs.memory import InMemoryJobRepository
from lambdas.jobs.model import JobStep
from lambdas.media.errors import NoVideoStream, SourceUnreadable, UnsupportedInput
from lambdas.pipeline.common import PROGRESS_PROBED, JobRef, PipelineConfig
from lambdas.pipeline.errors import JobCancelled
from lambdas.pipeline.probe import ProbeRequest, ProbeResult, probe
from lambdas.storage.memory import DirectoryMediaStore
from tests.unit.pipeline.conftest import UPLOADS, StartJob, needs_ffmpeg, steps

pytestmark = needs_ffmpeg


def run_probe(
    job_id: str, repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig
) -> ProbeResult:
    return probe(ProbeRequest(job=JobRef(job_id=job_id)), repo, store, config)


def test_a_good_file_is_planned(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
) -> None:
    job = start_job(clips["landscape"], {"renditions": "240p,120p"})
    result = run_probe(job.job_id, repo, store, config)

    assert result.media.video is not None
    assert (result.media.video.width, result.media.video.height) == (320, 240)
    assert result.media.duration == pytest.approx(2.0, abs=0.1)
    assert [r.name for r in result.renditions] == ["240p", "120p"]  # as requested, largest first
    assert all(r.ladder == ("240p", "120p") and r.track_progress for r in result.renditions)
    assert result.renditions[0].segment_seconds == 1
    assert result.thumbnails.enabled
    assert len(result.thumbnails.times) == 3
    assert result.thumbnails.sprite is not None
    assert result.thumbnails.sprite.count == 2  # one tile a second, at least a second apart

    payload = json.loads(json.dumps(result.model_dump(mode="json")))  # what Step Functions carries
    assert set(payload) == {"media", "renditions", "thumbnails"}
    assert ProbeResult.model_validate(payload) == result

    stored = repo.get(job.job_id)
    assert stored.progress == PROGRESS_PROBED
    assert stored.current_step is JobStep.PLAN
    assert steps(repo, job.job_id)[-6:] == [
        (JobStep.PROBE, "started"),
        (JobStep.PROBE, "finished"),
        (JobStep.VALIDATE, "started"),
        (JobStep.VALIDATE, "finished"),
        (JobStep.PLAN, "started"),
        (JobStep.PLAN, "finished"),
    ]


def test_the_source_is_downloaded_to_a_fixed_name(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = start_job(clips["landscape"])
    seen: list[Path] = []
    original = store.download

    def spy(bucket: str, key: str, path: Path):  # type: ignore[no-untyped-def]
        seen.append(path)
        return original(bucket, key, path)

    monkeypatch.setattr(store, "download", spy)
    run_probe(job.job_id, repo, store, config)
    assert [p.name for p in seen] == ["source"]


@pytest.mark.parametrize(
    ("clip", "error", "text"),
    [
        ("audio_only", NoVideoStream, "no video stream"),
        ("truncated", SourceUnreadable, "truncated or corrupt"),
        ("playlist", UnsupportedInput, "playlists"),
    ],
)
def test_bad_files_are_typed_errors_and_the_source_is_kept(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
    clip: str,
    error: type[Exception],
    text: str,
) -> None:
    job = start_job(clips[clip])
    with pytest.raises(error, match=text):
        run_probe(job.job_id, repo, store, config)
    assert store.read_bytes(UPLOADS, job.source.key) == clips[clip].read_bytes()
    failed = [e for e in repo.list_events(job.job_id) if e.kind.value == "failed"]
    assert len(failed) == 1
    assert text in failed[0].message


def test_a_cancelled_job_is_not_probed(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
) -> None:
    from lambdas.jobs.model import JobStatus, utc_now
    from lambdas.jobs.transitions import transition

    job = start_job(clips["landscape"])
    repo.save_transition(job, transition(job, JobStatus.CANCELLED, utc_now()))
    with pytest.raises(JobCancelled):
        run_probe(job.job_id, repo, store, config)
    assert ("download", UPLOADS, job.source.key) not in store.calls
