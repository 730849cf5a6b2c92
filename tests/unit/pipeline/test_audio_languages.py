"""A source with three audio tracks end to end on the fakes with real ffmpeg: one piece, one item and one CMAF
track each, alternate audio renditions in the HLS master and the DASH MPD, the default in preview and MP4."""

from __future__ import annotations

import array
import itertools
import math
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import m3u8
import pytest

from lambdas import keys
from lambdas.jobs.model import JobStep, OutputKind
from lambdas.pipeline.config import PipelineConfig
from lambdas.pipeline.encode import encode
from lambdas.pipeline.package import package
from lambdas.pipeline.probe import ProbeResult
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.storage import DirectoryMediaStore
from tests.media_tools import ffprobe_json
from tests.unit.media.conftest import LAYER_BIN
from tests.unit.pipeline.conftest import (
    OUTPUTS,
    UPLOADS,
    StartJob,
    encode_request,
    item_ids,
    needs_ffmpeg,
    package_request,
    probe_job,
)

pytestmark = needs_ffmpeg

LATE_S = 1.5
DASH = {"d": "urn:mpeg:dash:schema:mpd:2011"}
TRACKS = ["audio", "audio-1", "audio-2"]


@pytest.fixture(scope="module")
def three_languages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of picture; English 5.1 (the tone on the centre), French mono 8 kHz flagged default, and an
    untagged track that starts 1.5 s in."""
    out = tmp_path_factory.mktemp("languages") / "source.mp4"
    subprocess.run(
        [
            str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-v", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=2",
            "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000:duration=2",
            "-f", "lavfi", "-i", "sine=frequency=500:sample_rate=8000:duration=2",
            "-itsoffset", str(LATE_S), "-f", "lavfi", "-i", "sine=frequency=700:sample_rate=44100:duration=0.5",
            "-filter_complex", "[1:a]pan=5.1|FC=c0[centre]",
            "-map", "0:v", "-map", "[centre]", "-map", "2:a", "-map", "3:a",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac",
            "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra",
            "-disposition:a:0", "0", "-disposition:a:1", "default", "-disposition:a:2", "0",
            str(out),
        ],
        check=True,
    )  # fmt: skip
    return out


def joined(store: DirectoryMediaStore, job_id: str, track: str, tmp: Path) -> Path:
    """A track's init and every segment its playlist lists, as a player appends them."""
    prefix = keys.track_prefix(job_id, track)
    playlist = m3u8.loads(store.read_bytes(OUTPUTS, prefix + keys.MEDIA_PLAYLIST).decode())
    out = tmp / f"{track}.mp4"
    with out.open("wb") as sink:
        sink.write(store.read_bytes(OUTPUTS, prefix + keys.INIT_SEGMENT))
        for segment in playlist.segments:
            sink.write(store.read_bytes(OUTPUTS, prefix + segment.uri))
    return out


def onset(path: Path) -> float:
    """When the first loud sample plays: the track's start plus its position in the decoded samples."""
    start = float(ffprobe_json(path, "-show_streams", "-select_streams", "a:0")["streams"][0]["start_time"])
    pcm = subprocess.run(
        [str(LAYER_BIN / "ffmpeg"), "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "f32le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    left = array.array("f", pcm)[0::2]
    return start + next(i for i, x in enumerate(left) if abs(x) > 0.05) / 48000


def tone_hz(path: Path) -> float:
    """The frequency of the tone the first audio track plays from 0.5 s to 1.5 s, by its zero crossings."""
    pcm = subprocess.run(
        [str(LAYER_BIN / "ffmpeg"), "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1", "-f", "f32le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    second = array.array("f", pcm)[24000:72000]
    return sum(1 for a, b in itertools.pairwise(second) if (a < 0) != (b < 0)) / 2


def peak_bps(store: DirectoryMediaStore, job_id: str, track: str) -> int:
    prefix = keys.track_prefix(job_id, track)
    media = m3u8.loads(store.read_bytes(OUTPUTS, prefix + keys.MEDIA_PLAYLIST).decode())
    peak: float = max(store.head(OUTPUTS, prefix + s.uri).size * 8 / s.duration for s in media.segments)
    return math.ceil(peak)


def run(job_id: str, planned: ProbeResult, item_id: str, repo: InMemoryJobRepository, store: DirectoryMediaStore,
        config: PipelineConfig) -> None:  # fmt: skip
    encode(encode_request(job_id, planned, item_id), repo, store, config)


def test_three_languages_become_alternate_audio_renditions(
    three_languages: Path,
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    per_segment: PipelineConfig,
    tmp_path: Path,
) -> None:
    job = start_job(three_languages)
    job_id = job.job_id
    planned = probe_job(job_id, repo, store, per_segment)
    assert item_ids(store, planned) == [*TRACKS, "c00000", "c00001"]  # items.json as before: {"item_id": ...}
    for track in TRACKS:
        assert store.head(UPLOADS, keys.audio_piece_key(job_id, 0, track)).size > 0
    assert keys.audio_piece_key(job_id, 0) == keys.audio_piece_key(job_id, 0, "audio")  # the old key kept

    # The default track and the first chunk are enough for a preview: it plays the default track only.
    for item_id in ("c00000", "audio"):
        run(job_id, planned, item_id, repo, store, per_segment)
    preview = m3u8.loads(store.read_bytes(OUTPUTS, keys.master_key(job_id)).decode())
    assert [(m.name, m.language, m.default, m.uri) for m in preview.media] == [("fr", "fr", "YES", "audio/index.m3u8")]
    assert repo.get(job_id).playable_segments == 1
    for item_id in ("audio-2", "c00001", "audio-1"):
        run(job_id, planned, item_id, repo, store, per_segment)
    transcode = [e.message for e in repo.list_events(job_id) if e.step is JobStep.TRANSCODE]
    assert "audio 2/3: en" in transcode
    assert "audio 3/3: audio" in transcode

    result = package(package_request(job, planned), repo, store, per_segment)
    assert result.manifest_key is not None
    assert result.dash_key is not None
    master = m3u8.loads(store.read_bytes(OUTPUTS, result.manifest_key).decode())
    assert [(m.type, m.group_id, m.name, m.language, m.default, m.autoselect, m.uri) for m in master.media] == [
        ("AUDIO", "audio", "fr", "fr", "YES", "YES", "audio/index.m3u8"),
        ("AUDIO", "audio", "en", "en", "NO", "YES", "audio-1/index.m3u8"),
        ("AUDIO", "audio", "audio", None, "NO", "YES", "audio-2/index.m3u8"),
    ]
    heaviest = max(peak_bps(store, job_id, track) for track in TRACKS)
    for variant in master.playlists:
        info = variant.stream_info
        assert info.audio == "audio"
        assert info.codecs.endswith(",mp4a.40.2")
        assert info.bandwidth == peak_bps(store, job_id, variant.uri.split("/")[0]) + heaviest

    mpd = ET.fromstring(store.read_bytes(OUTPUTS, result.dash_key))
    sets = mpd.findall("d:Period/d:AdaptationSet[@contentType='audio']", DASH)
    assert [(s.get("lang"), s.find("d:Role", DASH).get("value")) for s in sets] == [  # type: ignore[union-attr]
        ("fr", "main"),
        ("en", "alternate"),
        (None, "alternate"),
    ]
    assert [r.get("id") for s in sets for r in s.findall("d:Representation", DASH)] == TRACKS

    onsets = {}
    for track in TRACKS:
        media = joined(store, job_id, track, tmp_path)
        (stream,) = ffprobe_json(media, "-show_streams")["streams"]
        assert (stream["codec_name"], stream["channels"], stream["sample_rate"]) == ("aac", 2, "48000")
        onsets[track] = onset(media)
    # Every track on the same timeline: the late one 1.5 s after the others, which start together.
    assert onsets["audio-1"] == pytest.approx(onsets["audio"], abs=0.005)
    assert onsets["audio-2"] - onsets["audio"] == pytest.approx(LATE_S, abs=0.01)

    # The MP4 fallback carries the default track (French, mono at 8 kHz: its 500 Hz tone).
    mp4 = next(f for f in result.files if f.kind is OutputKind.MP4)
    local = tmp_path / "fallback.mp4"
    local.write_bytes(store.read_bytes(OUTPUTS, mp4.key))
    streams = ffprobe_json(local, "-show_streams")["streams"]
    assert sorted(s["codec_type"] for s in streams) == ["audio", "video"]
    assert tone_hz(local) == pytest.approx(500, rel=0.02)
    assert tone_hz(joined(store, job_id, "audio-1", tmp_path)) == pytest.approx(1000, rel=0.02)  # the English
