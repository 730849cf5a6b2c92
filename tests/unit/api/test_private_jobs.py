"""Private jobs through the resolver: refused without a signer, signed per answer with one, cancelled cleanly."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from lambdas import keys
from lambdas.jobs.model import JobOutputs, JobStatus, OutputFile, OutputKind
from lambdas.playback.service import PlaybackConfig, PrivatePlayback
from lambdas.playback.tokens import PlayTokens
from tests.fakes.playback import DictManifests, FakeSigner
from tests.unit.api.conftest import OUTPUTS, Api, Clock, build_api
from tests.unit.api.test_jobs import finish, processing, queued

PLAY = "https://api.example/v1"


def with_playback(root: Path, clock: Clock) -> tuple[Api, FakeSigner]:
    signer = FakeSigner()
    playback = PrivatePlayback(
        PlaybackConfig(play_base_url=PLAY), signer, lambda: PlayTokens(b"k" * 32), DictManifests(), clock=clock
    )
    return build_api(root, clock, playback=playback), signer


def completed(api: Api, job_id: str) -> None:
    master, mpd = keys.master_key(job_id, private=True), keys.dash_key(job_id, private=True)
    files = (
        OutputFile(kind=OutputKind.HLS, key=master, size_bytes=10, duration_seconds=30.0),
        OutputFile(kind=OutputKind.DASH, key=mpd, size_bytes=10, duration_seconds=30.0),
        OutputFile(
            kind=OutputKind.THUMBNAILS, key=keys.thumbnails_prefix(job_id, private=True) + "poster.jpg", size_bytes=9
        ),
    )
    processing(api, job_id)
    finish(
        api, job_id, JobStatus.COMPLETED, outputs=JobOutputs(manifest_key=master, dash_manifest_key=mpd, files=files)
    )


def test_a_deployment_without_a_signer_refuses_private_jobs(api: Api) -> None:
    answer = api.call("POST", "/uploads", {"file_name": "clip.mp4", "size": 1000, "private": True})
    assert answer.status == 422
    assert answer.error() == ("validation_error", "private")


def test_a_private_jobs_answer_carries_links_signed_for_it_and_the_listing_none(tmp_path: Path, clock: Clock) -> None:
    api, signer = with_playback(tmp_path, clock)
    job_id = queued(api, private=True)
    completed(api, job_id)
    body = api.call("GET", f"/jobs/{job_id}").body
    assert body["private"] is True
    outputs = body["outputs"]
    playback = urlsplit(outputs["playback_url"])
    assert f"{playback.scheme}://{playback.netloc}{playback.path}" == f"{PLAY}/play/{job_id}/cmaf/master.m3u8"
    expires = int(parse_qs(playback.query)["exp"][0])
    assert expires == int(clock().timestamp()) + 900 + 30  # the TTL to start, the video's length to finish
    assert outputs["dash_url"].startswith(f"{PLAY}/play/{job_id}/cmaf/manifest.mpd?exp={expires}&sig=")
    poster = next(f for f in outputs["files"] if f["kind"] == "thumbnails")
    assert poster["url"] == f"https://media.example/{poster['key']}?expires={expires}&signature=fake"
    assert [key for key, _ in signer.signed] == [poster["key"]]
    # Signed per answer, never stored: the stored job and the listing have no link.
    stored = api.repo.get(job_id)
    assert stored.outputs is not None
    assert stored.outputs.playback_url is None
    assert all(f.url is None for f in stored.outputs.files)
    (listed,) = api.call("GET", "/jobs").body["jobs"]
    assert listed["outputs"]["playback_url"] is None
    clock.advance(60)
    later = api.call("GET", f"/jobs/{job_id}").body["outputs"]["playback_url"]
    assert int(parse_qs(urlsplit(later).query)["exp"][0]) == expires + 60


def test_cancelling_a_private_job_removes_its_private_outputs(tmp_path: Path, clock: Clock) -> None:
    api, _ = with_playback(tmp_path, clock)
    job_id = queued(api, private=True)
    processing(api, job_id)
    key = keys.master_key(job_id, private=True)
    api.outputs.put_bytes(OUTPUTS, key, b"#EXTM3U\n")
    assert api.call("DELETE", f"/jobs/{job_id}").status == 200
    assert api.outputs.list_prefix(OUTPUTS, keys.output_prefix(job_id, private=True)) == []
