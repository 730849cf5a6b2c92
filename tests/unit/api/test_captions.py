"""Captions through the API over fakes: create, upload, complete (checked, cleaned, in both manifests), delete."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from lambdas import keys
from lambdas.jobs.model import Job, JobOutputs, JobStatus, OutputFile, OutputKind, Source
from lambdas.jobs.transitions import transition
from lambdas.media.manifests import AudioTrack, Segment, VideoTrack, dash_mpd, master_playlist
from tests.unit.api.conftest import ALICE, BOB, OUTPUTS, UPLOADS, Api

DASH = "{urn:mpeg:dash:schema:mpd:2011}"
SRT = b"1\n00:00:01,000 --> 00:00:02,000\nHello <script>alert(1)</script><img src=http://evil.example/x>\n"
VTT = b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nBonjour\n"


def segments(prefix: str, count: int = 3, timescale: int = 90_000) -> tuple[Segment, ...]:
    return tuple(
        Segment(uri=f"{prefix}seg_{n:05d}.m4s", duration_s=4.0, ticks=4 * timescale, start_ticks=n * 4 * timescale,
                bytes=100_000)
        for n in range(count)
    )  # fmt: skip


def completed_job(api: Api, owner: str = ALICE, *, status: JobStatus = JobStatus.COMPLETED) -> Job:
    """A job as PublishJob leaves it: 12 s of two rungs and one audio track, both manifests stored."""
    now = api.clock()
    job = Job.new(owner=owner, source=Source(bucket=UPLOADS, key="k"), requested_renditions=("720p", "360p"), now=now)
    api.repo.create(job)
    master, dash = keys.master_key(job.job_id), keys.dash_key(job.job_id)
    videos = [
        VideoTrack(name=name, uri_prefix=f"{name}/", init_uri=f"{name}/init.mp4", playlist_uri=f"{name}/index.m3u8",
                   timescale=90_000, width=w, height=h, frame_rate="30", codec="avc1.64001f",
                   segments=segments(f"{name}/"))
        for name, w, h in (("720p", 1280, 720), ("360p", 640, 360))
    ]  # fmt: skip
    audio = [
        AudioTrack(name="audio", init_uri="audio/init.mp4", playlist_uri="audio/index.m3u8", timescale=48_000,
                   codec="mp4a.40.2", sample_rate=48_000, channels=2, language="en",
                   segments=segments("audio/", timescale=48_000))
    ]  # fmt: skip
    api.caption_files.write(OUTPUTS, master, master_playlist(videos, audio).encode(), content_type="", cache_control="")
    api.caption_files.write(OUTPUTS, dash, dash_mpd(videos, audio, duration_s=12).encode(), content_type="",
                            cache_control="")  # fmt: skip
    if status is JobStatus.UPLOADING:
        return job
    for step in (JobStatus.QUEUED, JobStatus.PROCESSING):
        job = api.repo.save_transition(job, transition(job, step, now))
    if status is JobStatus.COMPLETED:
        outputs = JobOutputs(
            playback_url=f"https://cdn.example.com/{master}",
            manifest_key=master,
            dash_manifest_key=dash,
            files=(OutputFile(kind=OutputKind.HLS, key=master, size_bytes=100, duration_seconds=12.0),),
        )
        job = api.repo.save_transition(job, transition(job, status, now, outputs=outputs))
    return job


def add(api: Api, job: Job, data: bytes, *, user: str = ALICE, **body: Any) -> dict[str, Any]:
    created = api.call("POST", f"/jobs/{job.job_id}/captions", {"language": "en", **body}, user=user)
    assert created.status == 201, created.body
    api.caption_files.put(created.body["upload_url"], data)
    caption_id = created.body["caption"]["caption_id"]
    done = api.call("POST", f"/jobs/{job.job_id}/captions/{caption_id}/complete", user=user)
    assert done.status == 200, done.body
    return done.body  # type: ignore[no-any-return]


def master_text(api: Api, job: Job) -> str:
    return api.caption_files.text(OUTPUTS, keys.master_key(job.job_id))


def text_sets(api: Api, job: Job) -> list[ET.Element]:
    root = ET.fromstring(api.caption_files.text(OUTPUTS, keys.dash_key(job.job_id)))
    return [a for a in root.iter(f"{DASH}AdaptationSet") if a.get("contentType") == "text"]


def test_a_caption_is_created_pending_with_an_upload_url_under_the_callers_prefix(api: Api) -> None:
    job = completed_job(api)
    answer = api.call("POST", f"/jobs/{job.job_id}/captions", {"language": "pt-br", "format": "srt"})
    assert answer.status == 201
    caption = answer.body["caption"]
    assert (caption["language"], caption["label"], caption["status"], caption["format"]) == (
        "pt-BR", "pt-BR", "pending", "srt"
    )  # fmt: skip
    bucket, key, expires = api.caption_files.presigned[-1]
    assert (bucket, key) == (UPLOADS, f"uploads/{ALICE}/{job.job_id}/captions/{caption['caption_id']}")
    assert expires <= 300
    assert api.repo.get(job.job_id).captions[0].caption_id == caption["caption_id"]


def test_completing_cleans_converts_and_lists_the_track_in_both_manifests(api: Api) -> None:
    job = completed_job(api)
    caption = add(api, job, SRT, format="srt", label="English", default=True)
    assert caption["status"] == "ready"
    assert caption["cue_count"] == 1
    assert {"script", "img"} <= set(caption["removed"])
    vtt = api.caption_files.text(OUTPUTS, caption["key"])
    assert vtt == "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHello\n"
    assert caption["url"] == f"https://cdn.example.com/{caption['key']}"
    playlist = api.caption_files.text(OUTPUTS, caption["playlist_key"])
    assert playlist.splitlines()[-3:] == ["#EXTINF:12.000000,", "captions.vtt", "#EXT-X-ENDLIST"]
    master = master_text(api, job)
    uri = f"subtitles/{caption['caption_id']}/index.m3u8"
    assert (
        f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",DEFAULT=YES,AUTOSELECT=YES,'
        f'FORCED=NO,URI="{uri}"'
    ) in master
    variants = [line for line in master.splitlines() if line.startswith("#EXT-X-STREAM-INF")]
    assert len(variants) == 2
    assert all(line.endswith(',SUBTITLES="subs"') and 'AUDIO="audio"' in line for line in variants)
    [text] = text_sets(api, job)
    assert (text.get("mimeType"), text.get("lang")) == ("text/vtt", "en")
    base = text.find(f"{DASH}Representation/{DASH}BaseURL")
    assert base is not None
    assert base.text == f"subtitles/{caption['caption_id']}/captions.vtt"
    stored = api.repo.get(job.job_id)
    assert [f.key for f in stored.outputs.files if f.kind is OutputKind.CAPTIONS] == [caption["key"]]  # type: ignore[union-attr]
    source = keys.caption_source_key(ALICE, job.job_id, caption["caption_id"])
    assert (UPLOADS, source) not in api.caption_files.objects  # the upload is removed once published


def test_several_captions_one_default_distinct_names(api: Api) -> None:
    job = completed_job(api)
    first = add(api, job, VTT, language="fr", label="Français", default=True)
    second = add(api, job, VTT, language="fr-CA", label="Français", default=True)
    third = add(api, job, SRT, format="srt", language="zh-hant", label="中文")
    captions = api.call("GET", f"/jobs/{job.job_id}/captions").body["captions"]
    assert [c["caption_id"] for c in captions] == [first["caption_id"], second["caption_id"], third["caption_id"]]
    assert [c["default"] for c in captions] == [False, True, False]  # the newest default took it
    media = [line for line in master_text(api, job).splitlines() if "TYPE=SUBTITLES" in line]
    assert len(media) == 3
    assert 'NAME="Français"' in media[0]
    assert 'NAME="Français (2)"' in media[1]
    assert 'LANGUAGE="zh-Hant"' in media[2]
    assert [("DEFAULT=YES" in line) for line in media] == [False, True, False]
    assert [a.get("lang") for a in text_sets(api, job)] == ["fr", "fr-CA", "zh-Hant"]


def test_deleting_rewrites_the_manifests(api: Api) -> None:
    job = completed_job(api)
    original_master = master_text(api, job)
    first = add(api, job, VTT, language="fr")
    second = add(api, job, VTT, language="de")
    assert api.call("DELETE", f"/jobs/{job.job_id}/captions/{first['caption_id']}").status == 204
    assert (OUTPUTS, first["key"]) not in api.caption_files.objects
    assert first["caption_id"] not in master_text(api, job)
    assert [a.get("lang") for a in text_sets(api, job)] == ["de"]
    assert api.call("DELETE", f"/jobs/{job.job_id}/captions/{second['caption_id']}").status == 204
    assert master_text(api, job) == original_master  # no group left, no SUBTITLES attribute
    assert text_sets(api, job) == []
    assert api.repo.get(job.job_id).captions == ()
    assert api.call("DELETE", f"/jobs/{job.job_id}/captions/{second['caption_id']}").status == 404


def test_a_malformed_subrip_is_422_naming_the_line(api: Api) -> None:
    job = completed_job(api)
    created = api.call("POST", f"/jobs/{job.job_id}/captions", {"language": "en", "format": "srt"}).body
    api.caption_files.put(created["upload_url"], b"1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:03 --> x\nbad\n")
    answer = api.call("POST", f"/jobs/{job.job_id}/captions/{created['caption']['caption_id']}/complete")
    assert answer.status == 422
    assert answer.error() == ("validation_error", "file")
    assert answer.body["message"].startswith("line 6: ")
    assert "TYPE=SUBTITLES" not in master_text(api, job)
    assert api.repo.get(job.job_id).captions[0].status == "pending"  # fix the file, PUT again, complete again


def test_cues_past_the_video_are_422(api: Api) -> None:
    job = completed_job(api)
    created = api.call("POST", f"/jobs/{job.job_id}/captions", {"language": "en"}).body
    api.caption_files.put(created["upload_url"], b"WEBVTT\n\n00:00:30.000 --> 00:00:31.000\nlate\n")
    answer = api.call("POST", f"/jobs/{job.job_id}/captions/{created['caption']['caption_id']}/complete")
    assert (answer.status, answer.body["field"]) == (422, "file")
    assert "after the video ends (00:00:12.000)" in answer.body["message"]


def test_completing_without_a_file_is_409(api: Api) -> None:
    job = completed_job(api)
    created = api.call("POST", f"/jobs/{job.job_id}/captions", {"language": "en"}).body
    answer = api.call("POST", f"/jobs/{job.job_id}/captions/{created['caption']['caption_id']}/complete")
    assert answer.status == 409


def test_completing_twice_answers_the_caption(api: Api) -> None:
    job = completed_job(api)
    first = add(api, job, VTT)
    again = api.call("POST", f"/jobs/{job.job_id}/captions/{first['caption_id']}/complete")
    assert (again.status, again.body) == (200, first)


@pytest.mark.parametrize("status", [JobStatus.UPLOADING, JobStatus.PROCESSING])
def test_only_a_completed_job_takes_captions(api: Api, status: JobStatus) -> None:
    job = completed_job(api, status=status)
    assert api.call("POST", f"/jobs/{job.job_id}/captions", {"language": "en"}).status == 409


def test_another_owners_job_is_not_found(api: Api) -> None:
    job = completed_job(api)
    assert api.call("POST", f"/jobs/{job.job_id}/captions", {"language": "en"}, user=BOB).status == 404
    assert api.call("GET", f"/jobs/{job.job_id}/captions", user=BOB).status == 404
    caption = add(api, job, VTT)
    assert api.call("DELETE", f"/jobs/{job.job_id}/captions/{caption['caption_id']}", user=BOB).status == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"language": "not a language"}, "language"),
        ({"language": "en", "label": 'say "hi"'}, "label"),
        ({"language": "en", "format": "ass"}, "format"),
    ],
)
def test_bad_requests_are_422_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    job = completed_job(api)
    answer = api.call("POST", f"/jobs/{job.job_id}/captions", body)
    assert answer.status == 422
    assert field in (answer.body["field"] or "")


def test_the_number_of_captions_is_limited(api: Api) -> None:
    job = completed_job(api)
    for _ in range(20):
        assert api.call("POST", f"/jobs/{job.job_id}/captions", {"language": "en"}).status == 201
    assert api.call("POST", f"/jobs/{job.job_id}/captions", {"language": "en"}).status == 409


def test_the_job_lists_its_captions(api: Api) -> None:
    job = completed_job(api)
    caption = add(api, job, VTT, language="es-419")
    view = api.call("GET", f"/jobs/{job.job_id}").body
    assert [c["caption_id"] for c in view["captions"]] == [caption["caption_id"]]
    assert any(f["kind"] == "captions" and f["key"] == caption["key"] for f in view["outputs"]["files"])


def test_a_change_stored_while_the_manifests_are_written_is_written_too(api: Api) -> None:
    job = completed_job(api)
    other = add(api, job, VTT, language="de")  # ready, in the manifests
    master_key = keys.master_key(job.job_id)
    written = api.caption_files.write
    raced: list[bool] = []

    def racing_write(bucket: str, key: str, body: bytes, *, content_type: str, cache_control: str) -> None:
        written(bucket, key, body, content_type=content_type, cache_control=cache_control)
        if key == master_key and not raced:
            # Another request deletes `other` from the job just after our manifest write, and its own manifest
            # write landed before ours: without a second pass the master would still list `other`.
            raced.append(True)
            stored = api.repo.get(job.job_id)
            kept = tuple(c for c in stored.captions if c.caption_id != other["caption_id"])
            api.repo.save_captions(stored, kept, stored.outputs.files if stored.outputs else ())

    api.caption_files.write = racing_write  # type: ignore[method-assign]
    added = add(api, job, VTT, language="fr")
    assert raced
    media = [line for line in master_text(api, job).splitlines() if "TYPE=SUBTITLES" in line]
    assert len(media) == 1
    assert added["caption_id"] in media[0]
