"""GET /presets, GET /jobs/{id}/downloads[/{name}] through the resolver, and uploads naming a preset."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from lambdas import keys
from lambdas.jobs.model import Job, JobOutputs, JobStatus, OutputFile, OutputKind
from lambdas.jobs.transitions import transition
from lambdas.media.presets import BUILTIN_PRESETS, validate_presets
from tests.unit.api.conftest import ALICE, BOB, Api, Clock, build_api


def test_presets_lists_every_builtin_with_its_sizes(api: Api) -> None:
    answer = api.call("GET", "/presets")
    assert answer.status == 200, answer.body
    presets = {p["name"]: p for p in answer.body["presets"]}
    assert list(presets) == [p.name for p in BUILTIN_PRESETS]
    vertical = presets["vertical"]
    assert [(r["name"], r["width"], r["height"]) for r in vertical["rungs"]] == [
        ("1080x1920", 1080, 1920),
        ("720x1280", 720, 1280),
    ]
    assert vertical["fit"] == "pad"
    assert vertical["version"] == 1
    assert presets["web"]["rungs"][0] == {
        "name": "1080p",
        "width": None,
        "height": None,
        "short_side": 1080,
        "maxrate_kbps": 6000,
        "crf": 23,
    }
    assert presets["audio"]["rungs"] == []
    assert presets["audio"]["outputs"] == ["audio"]
    assert presets["archive"]["outputs"] == ["mp4"]


def test_presets_include_the_deployers_own(tmp_path: Path, clock: Clock) -> None:
    custom = validate_presets(
        [{"name": "reels", "version": 7, "rungs": [{"name": "hd", "width": 1080, "height": 1920,
          "maxrate_kbps": 5000}], "fit": "crop", "outputs": ["hls"]}]
    )  # fmt: skip
    api = build_api(tmp_path, clock, presets=custom)
    names = [p["name"] for p in api.call("GET", "/presets").body["presets"]]
    assert names[-1] == "reels"
    created = api.upload(preset="reels", fit="pad")
    job = api.repo.get(created["job"]["job_id"])
    assert job.preset is not None
    assert (job.preset.name, job.preset.version, job.preset.fit) == ("reels", 7, "pad")


def test_an_upload_stores_the_resolved_preset_and_its_mp4_rungs(api: Api) -> None:
    created = api.upload(preset="vertical", fit="crop", outputs=["hls", "mp4"], mp4_renditions=["720x1280"])
    job = api.repo.get(created["job"]["job_id"])
    assert job.preset is not None
    assert job.preset.fit == "crop"
    assert job.requested_renditions == ("1080x1920", "720x1280")
    assert job.mp4_renditions == ("720x1280",)


def _completed(api: Api, with_mp4: bool, *, owner: str = ALICE, file_name: str = "Ma vidéo.mov") -> Job:
    created = api.upload(user=owner, file_name=file_name)
    job = api.repo.get(created["job"]["job_id"])
    files = [OutputFile(kind=OutputKind.HLS, key=keys.master_key(job.job_id), size_bytes=10)]
    if with_mp4:
        key = keys.mp4_key(job.job_id, "720p")
        files.append(OutputFile(kind=OutputKind.MP4, key=key, size_bytes=4321, rendition="720p"))
    now = api.clock()
    for step in (JobStatus.QUEUED, JobStatus.PROCESSING):
        job = api.repo.save_transition(job, transition(job, step, now))
    outputs = JobOutputs(files=tuple(files))
    return api.repo.save_transition(job, transition(job, JobStatus.COMPLETED, now, outputs=outputs))


def test_downloads_list_and_link(api: Api) -> None:
    job_id = _completed(api, with_mp4=True).job_id
    listing = api.call("GET", f"/jobs/{job_id}/downloads")
    assert listing.status == 200, listing.body
    assert listing.body["status"] == "COMPLETED"
    assert listing.body["downloads"] == [
        {
            "name": "720p.mp4",
            "file_name": "Ma vidéo-720p.mp4",
            "size_bytes": 4321,
            "content_type": "video/mp4",
            "rendition": "720p",
        }
    ]
    link = api.call("GET", f"/jobs/{job_id}/downloads/720p.mp4")
    assert link.status == 200, link.body
    assert link.body["file_name"] == "Ma vidéo-720p.mp4"
    assert link.body["url"].startswith("https://s3.example/vodpipe-outputs/outputs/")
    assert link.body["expires_at"]
    assert unquote(link.body["url"]).endswith("?X-Amz-Expires=300")


def test_download_errors(api: Api) -> None:
    job = _completed(api, with_mp4=False)
    missing = api.call("GET", f"/jobs/{job.job_id}/downloads/720p.mp4")
    assert missing.status == 404
    assert missing.body["field"] == "name"
    assert api.call("GET", f"/jobs/{job.job_id}/downloads", user=BOB).status == 404
    assert api.call("GET", f"/jobs/{job.job_id}/downloads/..%2Fsecret").status in (404, 422)
    assert api.call("GET", f"/jobs/{job.job_id}/downloads/a b").status == 422
