"""The upload engine against the fake API: parallel parts, byte-exact assembly, resume, retries, fresh URLs."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from tests.unit.client.conftest import make_file
from tests.unit.client.fake_api import FakeVodpipe
from vodpipe.client.api import ApiClient
from vodpipe.client.errors import ApiError, PartUploadFailed, UploadInterrupted
from vodpipe.client.resume import ResumeStore
from vodpipe.client.upload import Uploader, UploadHooks, UploadRequest

KiB = 1024
PART = 64 * KiB


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def uploader(fake: FakeVodpipe, store_dir: Path, **kwargs: object) -> Uploader:
    api = ApiClient(fake.url, fake.token, backoff=0.01)
    return Uploader(api, ResumeStore(store_dir), backoff=0.01, **kwargs)  # type: ignore[arg-type]


def stored_object(fake: FakeVodpipe, job_id: str) -> bytes:
    return fake.stored(job_id)


def test_parallel_upload_assembles_the_file_byte_for_byte(fake: FakeVodpipe, tmp_path: Path) -> None:
    video = make_file(tmp_path / "clip.mp4", 10 * PART + 12_345)
    progress: list[int] = []
    hooks = UploadHooks(on_bytes=progress.append)

    result = uploader(fake, tmp_path / "resume", parallel=4, hooks=hooks).upload(video, UploadRequest(priority=7))

    assert sha(stored_object(fake, result.job_id)) == sha(video.read_bytes())
    assert result.job["status"] == "QUEUED"
    assert fake.job(result.job_id).priority == 7
    assert (result.part_count, result.parts_uploaded, result.parts_skipped) == (11, 11, 0)
    assert result.bytes_uploaded == video.stat().st_size
    assert sum(progress) == video.stat().st_size
    assert list((tmp_path / "resume").glob("*.json")) == []  # nothing left to resume


def test_interrupted_upload_resumes_with_only_the_missing_parts(fake: FakeVodpipe, tmp_path: Path) -> None:
    video = make_file(tmp_path / "clip.mov", 6 * PART + 999)
    stop = threading.Event()
    done: list[int] = []

    def after_two(number: int) -> None:
        done.append(number)
        if len(done) == 2:
            stop.set()

    first = uploader(fake, tmp_path / "resume", parallel=1, stop=stop, hooks=UploadHooks(on_part=after_two))
    with pytest.raises(UploadInterrupted) as interrupted:
        first.upload(video)
    job_id = interrupted.value.job_id
    assert (interrupted.value.parts_done, interrupted.value.part_count) == (2, 7)
    assert fake.parts(job_id) == [1, 2]
    before = len(fake.stored_parts)

    result = uploader(fake, tmp_path / "resume", parallel=3).upload(video)

    assert result.job_id == job_id
    assert result.resumed
    assert sorted(fake.stored_parts[before:]) == [3, 4, 5, 6, 7]
    assert (result.parts_uploaded, result.parts_skipped) == (5, 2)
    assert sha(stored_object(fake, job_id)) == sha(video.read_bytes())
    assert len(fake.jobs()) == 1


def test_a_connection_dropped_mid_part_is_retried(fake: FakeVodpipe, tmp_path: Path) -> None:
    video = make_file(tmp_path / "clip.mp4", 8 * PART)
    fake.faults.drop_once = {3, 6}
    fake.faults.status_once = {5: 503}
    notices: list[str] = []
    progress: list[int] = []

    result = uploader(
        fake, tmp_path / "resume", parallel=2, hooks=UploadHooks(on_notice=notices.append, on_bytes=progress.append)
    ).upload(video)

    assert sha(stored_object(fake, result.job_id)) == sha(video.read_bytes())
    assert fake.put_attempts[3] == fake.put_attempts[5] == fake.put_attempts[6] == 2
    assert result.part_retries == 3
    assert sum(progress) == video.stat().st_size  # bytes of failed attempts were taken back
    assert any("part 5: HTTP 503" in n for n in notices)


def test_a_part_that_keeps_failing_gives_up_and_stays_resumable(fake: FakeVodpipe, tmp_path: Path) -> None:
    video = make_file(tmp_path / "clip.mp4", 3 * PART)
    fake.faults.drop_once = {2}
    with pytest.raises(PartUploadFailed, match="part 2: gave up after 1 attempts"):
        uploader(fake, tmp_path / "resume", parallel=1, part_attempts=1).upload(video)

    result = uploader(fake, tmp_path / "resume").upload(video)
    assert result.resumed
    assert sha(stored_object(fake, result.job_id)) == sha(video.read_bytes())


def test_refused_urls_are_presigned_again(fake: FakeVodpipe, tmp_path: Path) -> None:
    video = make_file(tmp_path / "clip.mp4", 4 * PART)
    # Between POST /uploads and the first PUT every URL becomes invalid, as if it had expired.
    hooks = UploadHooks(on_plan=lambda plan: fake.revoke_urls())

    result = uploader(fake, tmp_path / "resume", hooks=hooks).upload(video)

    assert sha(stored_object(fake, result.job_id)) == sha(video.read_bytes())
    assert all(fake.put_attempts[n] == 2 for n in range(1, 5))


def test_more_than_a_hundred_parts_fetch_urls_in_batches(tmp_path: Path) -> None:
    with FakeVodpipe(min_part_size=KiB, default_part_size=KiB) as fake:
        video = make_file(tmp_path / "clip.mp4", 250 * KiB + 1)
        result = uploader(fake, tmp_path / "resume", parallel=8).upload(video)
        assert result.part_count == 251
        assert sha(stored_object(fake, result.job_id)) == sha(video.read_bytes())


def test_a_changed_file_starts_a_new_job_and_abandons_the_old_one(fake: FakeVodpipe, tmp_path: Path) -> None:
    video = make_file(tmp_path / "clip.mp4", 4 * PART)
    stop = threading.Event()
    first = uploader(fake, tmp_path / "resume", parallel=1, stop=stop, hooks=UploadHooks(on_part=lambda n: stop.set()))
    with pytest.raises(UploadInterrupted) as interrupted:
        first.upload(video)
    make_file(video, 4 * PART, seed=99)  # edited in place: same size, new bytes

    result = uploader(fake, tmp_path / "resume").upload(video)

    assert result.job_id != interrupted.value.job_id
    assert not result.resumed
    assert fake.job(interrupted.value.job_id).status == "CANCELLED"
    assert sha(stored_object(fake, result.job_id)) == sha(video.read_bytes())


def test_different_options_start_a_new_job(fake: FakeVodpipe, tmp_path: Path) -> None:
    video = make_file(tmp_path / "clip.mp4", 3 * PART)
    stop = threading.Event()
    first = uploader(fake, tmp_path / "resume", parallel=1, stop=stop, hooks=UploadHooks(on_part=lambda n: stop.set()))
    with pytest.raises(UploadInterrupted):
        first.upload(video, UploadRequest(renditions=("720p",)))

    result = uploader(fake, tmp_path / "resume").upload(video, UploadRequest(renditions=("360p",)))

    assert not result.resumed
    assert fake.job(result.job_id).requested_renditions == ("360p",)


def test_a_record_of_an_upload_completed_earlier_returns_that_job(fake: FakeVodpipe, tmp_path: Path) -> None:
    video = make_file(tmp_path / "clip.mp4", 2 * PART)
    store = ResumeStore(tmp_path / "resume")
    saved: list[object] = []
    # Keep a copy of the record as it was mid-upload: as if the process died right after `complete`.
    hooks = UploadHooks(on_plan=lambda plan: saved.extend(store.records()))
    done = uploader(fake, tmp_path / "resume", hooks=hooks).upload(video)
    store.save(saved[0])  # type: ignore[arg-type]
    parts_before = len(fake.stored_parts)

    again = uploader(fake, tmp_path / "resume").upload(video)

    assert again.job_id == done.job_id
    assert again.parts_uploaded == 0
    assert len(fake.stored_parts) == parts_before
    assert store.records() == []


def test_api_errors_carry_the_servers_message_and_field(fake: FakeVodpipe, tmp_path: Path) -> None:
    video = make_file(tmp_path / "clip.mp4", PART)
    with pytest.raises(ApiError) as error:
        uploader(fake, tmp_path / "resume").upload(video, UploadRequest(renditions=("4k",)))
    assert (error.value.status, error.value.error, error.value.field) == (422, "validation_error", "renditions")
    assert "4k not in the web preset (1080p, 720p, 480p, 360p)" in str(error.value)


def test_resume_record_says_which_job_and_file(fake: FakeVodpipe, tmp_path: Path) -> None:
    video = make_file(tmp_path / "clip.mp4", 2 * PART)
    stop = threading.Event()
    first = uploader(fake, tmp_path / "resume", parallel=1, stop=stop, hooks=UploadHooks(on_part=lambda n: stop.set()))
    with pytest.raises(UploadInterrupted) as interrupted:
        first.upload(video)

    (record,) = ResumeStore(tmp_path / "resume").records()
    assert record.job_id == interrupted.value.job_id
    assert record.api_url == fake.url
    assert record.fingerprint.size == 2 * PART
    assert record.fingerprint.head_sha256 == sha(video.read_bytes()[: 1 << 20])


def test_a_reused_uploader_uploads_every_part_after_a_failed_upload(fake: FakeVodpipe, tmp_path: Path) -> None:
    first, second = make_file(tmp_path / "first.mp4", 3 * PART), make_file(tmp_path / "second.mp4", 4 * PART, seed=3)
    fake.faults.status_once = {2: 400}
    engine = uploader(fake, tmp_path / "resume", parallel=1, part_attempts=1)
    with pytest.raises(PartUploadFailed, match="part 2: HTTP 400"):
        engine.upload(first)

    result = engine.upload(second)

    assert (result.part_count, result.parts_uploaded, result.parts_skipped) == (4, 4, 0)
    assert sha(stored_object(fake, result.job_id)) == sha(second.read_bytes())


def test_a_reused_uploader_reports_only_its_own_retries(fake: FakeVodpipe, tmp_path: Path) -> None:
    first, second = make_file(tmp_path / "first.mp4", 3 * PART), make_file(tmp_path / "second.mp4", 6 * PART, seed=3)
    # A fault fires on the first PUT of a part number: part 1 for the first upload, part 5 for the second.
    fake.faults.drop_once = {1, 5}
    fake.faults.status_once = {2: 400}
    engine = uploader(fake, tmp_path / "resume", parallel=1)
    with pytest.raises(PartUploadFailed, match="part 2: HTTP 400"):
        engine.upload(first)

    result = engine.upload(second)

    assert result.parts_uploaded == 6
    assert result.part_retries == 1
    assert result.bytes_uploaded == second.stat().st_size
