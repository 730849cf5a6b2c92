"""What people really upload, through the deployed local stack: one tiny generated source per case, all at once.

Codecs past H.264 (AV1, VP8/VP9, HEVC 8/10-bit, ProRes, DNxHD, DV and the legacy AVI/ASF/MOV family), HDR (PQ and
HLG), high and odd frame rates, interlaced broadcast sources, a variable-frame-rate phone clip, several audio
languages and an odd-sized MPEG-TS with thumbnails. Every source is at most 2 s (and at most 640x360 unless the
case needs broadcast sizes); they are uploaded through the API together and awaited together, then each job's
published MP4 (the fallback rung and the first audio, remuxed) is held to the one playback format every output
must have: H.264 8-bit 4:2:0, progressive, tagged BT.709, at most 60 fps, AAC stereo 48 kHz, as long as the source.
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import m3u8
import pytest

from lambdas import keys
from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.model import Job, JobStatus
from lambdas.storage.s3 import S3MediaStore
from tests.media_tools import ffprobe_json
from tests.pipeline_jobs import (
    FFMPEG,
    Outputs,
    Submitted,
    await_all,
    ffmpeg,
    field_stats,
    first_bright_frame,
    first_sound,
    frame_times,
    has_audio,
    outcome,
    picture_stats,
    playback_problems,
    rate,
    source_duration,
    stream_info,
    submit_all,
    table,
)
from vodpipe.local.stack import LocalDeployment
from vodpipe.local.users import create_token

DEADLINE_S = 480
SECONDS = 2

pytestmark = pytest.mark.skipif(not FFMPEG.is_file(), reason="ffmpeg layer not built")


# -- the sources -------------------------------------------------------------------------------------------------


def _pattern(size: str = "320x180", fps: str = "30", seconds: float = SECONDS) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}"]


def _tone(sample_rate: int = 48000, seconds: float = SECONDS, frequency: int = 440) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency={frequency}:sample_rate={sample_rate}:duration={seconds}"]


def _av(
    out: Path,
    video: list[str],
    audio: list[str],
    *,
    size: str = "320x180",
    fps: str = "30",
    sample_rate: int = 48000,
    filters: str | None = None,
    fmt: list[str] | None = None,
) -> Path:
    argv = [*_pattern(size, fps), *_tone(sample_rate)]
    if filters:
        argv += ["-vf", filters]
    ffmpeg(*argv, "-map", "0:v", "-map", "1:a", *video, *audio, *(fmt or []), str(out))
    return out


_X265 = ["-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1"]
_AAC = ["-c:a", "aac", "-b:a", "96k"]


def _hdr(out: Path, transfer: str) -> Path:
    """The test pattern as HDR10/HLG would carry it: BT.2020 primaries, `transfer`, SDR white at 203 nits
    (BT.2408's reference white), HEVC Main 10 with the colour description in the VUI."""
    to_hdr = (
        f"zscale=tin=bt709:pin=bt709:min=bt709:rin=tv:t={transfer}:p=bt2020:m=bt2020nc:r=tv:npl=203,format=yuv420p10le"
    )
    params = f"log-level=error:colorprim=bt2020:transfer={transfer}:colormatrix=bt2020nc:range=limited"
    return _av(out, [*_X265, "-x265-params", params], _AAC, size="640x360", filters=to_hdr)


def _sdr_reference(out: Path) -> Path:
    """The same pattern as an ordinary BT.709 file: how bright and colourful an SDR rendition should look."""
    ffmpeg(
        *_pattern("640x360"), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-qp", "10", str(out)
    )
    return out


def _interlaced(out: Path, codec: str, order: str) -> Path:
    """NTSC-sized 29.97i made from 59.94p motion: every frame two fields, so an undeinterlaced picture combs."""
    weave = f"interlace=scan={order}:lowpass=0,setfield={order}"
    if codec == "mpeg2video":
        video = ["-c:v", "mpeg2video", "-b:v", "4M", "-flags", "+ilme+ildct", "-top", "1" if order == "tff" else "0"]
        audio = ["-c:a", "mp2", "-b:a", "192k"]
    else:
        video = ["-c:v", "libx264", "-preset", "ultrafast", "-flags", "+ilme+ildct", "-x264-params", f"{order}=1"]
        video += ["-pix_fmt", "yuv420p"]
        audio = ["-c:a", "ac3"] if out.suffix == ".ts" else _AAC
    fmt = ["-f", "mpegts"] if out.suffix == ".ts" else []
    return _av(out, video, audio, size="720x480", fps="60000/1001", filters=weave, fmt=fmt)


FLASH_AT = 1.2  # the VFR clip's sync mark: a white frame and a 1 kHz beep, together


def _vfr_phone(out: Path) -> Path:
    """A phone's variable frame rate: 30 fps dropping to 15 fps in low light (0.4 to 0.9 s), jittered timestamps on
    a 90 kHz clock, and a flash with a beep at FLASH_AT to check that sound stays with picture."""
    flash = f"between(t,{FLASH_AT},{FLASH_AT + 0.2})"
    video = (
        f"color=c=0x202020:size=320x180:rate=30:duration={SECONDS},"
        f"drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='{flash}',"
        "select='not(between(t,0.4,0.9)*mod(n,2))',settb=1/90000,setpts='PTS+0.004*sin(N)/TB'"
    )
    audio = f"sine=frequency=1000:sample_rate=48000:duration={SECONDS},volume=enable='not({flash})':volume=0"
    ffmpeg(
        *("-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-fps_mode", "passthrough"),
        *("-enc_time_base:v", "-1"),
        *("-video_track_timescale", "90000", *_AAC, "-movflags", "+faststart", str(out)),
    )
    return out


LATE_AUDIO_S = 1.5


def _three_languages(out: Path) -> Path:
    """English 5.1 (AC-3), French mono at 8 kHz (AAC), and an undetermined stereo MP3 that starts 1.5 s late."""
    ffmpeg(
        *_pattern("320x180"),
        *("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS}"),
        *("-f", "lavfi", "-i", f"sine=frequency=660:sample_rate=8000:duration={SECONDS}"),
        *("-itsoffset", str(LATE_AUDIO_S)),
        *("-f", "lavfi", "-i", f"sine=frequency=880:sample_rate=44100:duration={SECONDS - LATE_AUDIO_S}"),
        *("-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:a"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
        *("-c:a:0", "ac3", "-ac:a:0", "6", "-c:a:1", "aac", "-ac:a:1", "1", "-ar:a:1", "8000"),
        *("-c:a:2", "libmp3lame", "-ac:a:2", "2"),
        *("-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra", "-metadata:s:a:2", "language=und"),
        str(out),
    )
    return out


@dataclass(frozen=True)
class Case:
    file_name: str
    make: Callable[[Path], Path]
    max_fps: float = 60.0
    duration_tolerance_s: float = 0.15


def _case(file_name: str, make: Callable[[Path], Path], **kwargs: Any) -> Case:
    return Case(file_name=file_name, make=make, **kwargs)


_X264_LOW = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
_AOM = ["-c:v", "libaom-av1", "-cpu-used", "8", "-row-mt", "1", "-b:v", "200k", "-pix_fmt", "yuv420p"]
_VPX_FAST = ["-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"]

CASES: dict[str, Case] = {
    # Modern codecs.
    "av1_mp4": _case("av1.mp4", lambda p: _av(p, _AOM, _AAC)),
    "av1_webm": _case("av1.webm", lambda p: _av(p, _AOM, ["-c:a", "libopus"])),
    "vp8_webm": _case("vp8.webm", lambda p: _av(p, ["-c:v", "libvpx", *_VPX_FAST], ["-c:a", "libvorbis"])),
    "vp9_webm": _case("vp9.webm", lambda p: _av(p, ["-c:v", "libvpx-vp9", *_VPX_FAST], ["-c:a", "libopus"])),
    "hevc_8bit": _case(
        "hevc8.mp4", lambda p: _av(p, [*_X265, "-x265-params", "log-level=error", "-pix_fmt", "yuv420p"], _AAC)
    ),
    "hevc_10bit": _case(
        "hevc10.mp4", lambda p: _av(p, [*_X265, "-x265-params", "log-level=error", "-pix_fmt", "yuv420p10le"], _AAC)
    ),
    # Production and camera formats.
    "prores_mov": _case(
        "prores.mov",
        lambda p: _av(p, ["-c:v", "prores_ks", "-profile:v", "2", "-pix_fmt", "yuv422p10le"], ["-c:a", "pcm_s24le"]),
    ),
    "dnxhd_mxf": _case(
        "dnxhr.mxf",
        lambda p: _av(
            p,
            ["-c:v", "dnxhd", "-profile:v", "dnxhr_lb", "-pix_fmt", "yuv422p"],
            ["-c:a", "pcm_s16le", "-ac", "2"],
            size="640x360",
        ),
    ),
    "dv": _case(
        "camcorder.dv",
        lambda p: _av(
            p,
            ["-c:v", "dvvideo", "-pix_fmt", "yuv411p"],
            ["-c:a", "pcm_s16le", "-ac", "2"],
            size="720x480",
            fps="30000/1001",
            fmt=["-f", "dv"],
        ),
        duration_tolerance_s=0.2,
    ),
    # The legacy family: what old archives and CD-ROMs hold.
    "cinepak_avi": _case(  # a slow encoder: a smaller picture
        "cinepak.avi", lambda p: _av(p, ["-c:v", "cinepak"], ["-c:a", "pcm_s16le"], size="192x108", sample_rate=22050)
    ),
    "msmpeg4v2_avi": _case(
        "msmpeg4v2.avi",
        lambda p: _av(p, ["-c:v", "msmpeg4v2", "-q:v", "5"], ["-c:a", "libmp3lame", "-ac", "2"], sample_rate=44100),
    ),
    "wmv2_asf": _case(
        "wmv2.wmv", lambda p: _av(p, ["-c:v", "wmv2", "-q:v", "5"], ["-c:a", "wmav2", "-ac", "2"], sample_rate=44100)
    ),
    "svq1_mov": _case("svq1.mov", lambda p: _av(p, ["-c:v", "svq1"], ["-c:a", "pcm_s16be"], sample_rate=22050)),
    "mjpeg_avi": _case(
        "mjpeg.avi",
        lambda p: _av(p, ["-c:v", "mjpeg", "-q:v", "5", "-pix_fmt", "yuvj420p"], ["-c:a", "pcm_s16le", "-ac", "2"]),
    ),
    "rawvideo_avi": _case(
        "raw.avi",
        lambda p: _av(p, ["-c:v", "rawvideo", "-pix_fmt", "yuv420p"], ["-c:a", "pcm_s16le"], sample_rate=44100),
    ),
    # HDR.
    "hdr_pq": _case("hdr10_pq.mp4", lambda p: _hdr(p, "smpte2084")),
    "hdr_hlg": _case("hlg.mp4", lambda p: _hdr(p, "arib-std-b67")),
    # Frame rates.
    "fps_120": _case("120fps.mp4", lambda p: _av(p, _X264_LOW, _AAC, fps="120")),
    "fps_240": _case("240fps.mp4", lambda p: _av(p, _X264_LOW, _AAC, fps="240")),
    "vp9_187fps_avi": _case(
        "vp9_187fps.avi", lambda p: _av(p, ["-c:v", "libvpx-vp9", *_VPX_FAST], ["-c:a", "pcm_s16le"], fps="187")
    ),
    # Interlaced broadcast.
    "mpeg2_ts_tff": _case("mpeg2_tff.ts", lambda p: _interlaced(p, "mpeg2video", "tff")),
    "mpeg2_ts_bff": _case("mpeg2_bff.ts", lambda p: _interlaced(p, "mpeg2video", "bff")),
    "h264_ts_tff": _case("h264_tff.ts", lambda p: _interlaced(p, "h264", "tff")),
    "h264_mp4_bff": _case("h264_bff.mp4", lambda p: _interlaced(p, "h264", "bff")),
    # A phone, several languages, and an odd-sized transport stream with thumbnails.
    "vfr_phone": _case("phone_vfr.mp4", _vfr_phone),
    "three_languages": _case("three_languages.mkv", _three_languages),
    "ts_400x170": _case(
        "odd_400x170.ts",
        lambda p: _av(p, _X264_LOW, ["-c:a", "aac", "-ac", "2"], size="400x170", fmt=["-f", "mpegts"]),
    ),
}
HFR = ["fps_120", "fps_240", "vp9_187fps_avi"]
INTERLACED = ["mpeg2_ts_tff", "mpeg2_ts_bff", "h264_ts_tff", "h264_mp4_bff"]
HDR = ["hdr_pq", "hdr_hlg"]
OWNER = f"it-realworld-{uuid.uuid4().hex[:8]}"


# -- one run for the module --------------------------------------------------------------------------------------


@dataclass
class RealWorld:
    runs: dict[str, Submitted]
    outputs: Outputs
    reference: Path
    timings: dict[str, float] = field(default_factory=dict)

    def job(self, name: str) -> Job:
        run = self.runs[name]
        assert run.upload_error is None, run.upload_error
        job = run.job
        assert job is not None, f"{name}: no job"
        assert job.status is JobStatus.COMPLETED, f"{name}: {outcome(run)}"
        return job


@pytest.fixture(scope="module")
def real_world(
    stack: LocalDeployment, aws_client: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealWorld]:
    started = time.monotonic()
    sources_dir = tmp_path_factory.mktemp("real-world")
    with ThreadPoolExecutor(max_workers=2) as pool:
        made = dict(zip(CASES, pool.map(lambda c: c.make(sources_dir / c.file_name), CASES.values()), strict=True))
        reference = pool.submit(_sdr_reference, sources_dir / "sdr_reference.mp4").result()
    generated = time.monotonic()

    token = create_token(aws_client("dynamodb"), stack.jobs_table, OWNER)
    runs = submit_all(stack.api_url, token, made, resume_dir=tmp_path_factory.mktemp("resume"))
    uploaded = time.monotonic()
    repository = DynamoDBJobRepository(aws_client("dynamodb"), stack.jobs_table)
    pending = await_all(repository, runs, deadline_s=DEADLINE_S)
    finished = time.monotonic()
    world = RealWorld(
        runs=runs,
        outputs=Outputs(aws_client("s3"), stack.outputs_bucket, tmp_path_factory.mktemp("real-world-out")),
        reference=reference,
        timings={"generate": generated - started, "upload": uploaded - generated, "await": finished - uploaded},
    )
    print(f"\nreal-world sources: {world.timings}")
    print(table([(n, f"{r.seconds or 0:.1f}", outcome(r)) for n, r in runs.items()], ("case", "s", "outcome")))
    assert not pending, f"jobs not finished after {DEADLINE_S} s: {pending}"

    yield world

    store = S3MediaStore(aws_client("s3"))
    for run in runs.values():
        if run.job_id:
            store.delete_prefix(stack.uploads_bucket, f"uploads/{OWNER}/{run.job_id}/")
            store.delete_prefix(stack.outputs_bucket, keys.output_prefix(run.job_id))


# -- every case: the playback format -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_each_source_is_published_in_the_playback_format(real_world: RealWorld, name: str) -> None:
    job = real_world.job(name)
    source = real_world.runs[name].source
    case = CASES[name]
    assert job.outputs is not None
    assert job.outputs.playback_url, "no HLS master playlist"
    assert job.outputs.dash_url, "no DASH manifest"
    mp4 = real_world.outputs.mp4(job)
    assert mp4 is not None, "no MP4 fallback"
    problems = playback_problems(
        mp4,
        duration=source_duration(source),
        audio=has_audio(source),
        duration_tolerance_s=case.duration_tolerance_s,
        max_fps=case.max_fps,
    )
    assert not problems, f"{name}: " + "; ".join(problems)


# -- the cases' own promises -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HDR)
def test_hdr_is_tone_mapped_not_washed_out(real_world: RealWorld, name: str) -> None:
    """Compared with the same pattern made as SDR: a PQ/HLG picture passed through as if it were BT.709 keeps
    about a quarter of the colour (washed out); a clipped conversion is far too bright."""
    job = real_world.job(name)
    mp4 = real_world.outputs.mp4(job)
    assert mp4 is not None
    (video,) = stream_info(mp4, "v:0")
    tags = {k: video.get(k) for k in ("color_primaries", "color_transfer", "color_space")}
    out, ref = picture_stats(mp4), picture_stats(real_world.reference)
    problems = [f"tagged {tags}"] if tags != dict.fromkeys(tags, "bt709") else []
    if not 0.75 * ref.luma <= out.luma <= 1.25 * ref.luma:
        problems.append(f"mean luma {out.luma:.1f}, the SDR pattern's {ref.luma:.1f}")
    if not 0.6 * ref.saturation <= out.saturation <= 1.3 * ref.saturation:
        problems.append(f"mean saturation {out.saturation:.1f}, the SDR pattern's {ref.saturation:.1f}")
    assert not problems, f"{name}: " + "; ".join(problems)


@pytest.mark.parametrize("name", HFR)
def test_high_frame_rates_are_capped(real_world: RealWorld, name: str) -> None:
    job = real_world.job(name)
    master = m3u8.loads(real_world.outputs.text(keys.master_key(job.job_id)))
    for variant in master.playlists:
        assert variant.stream_info.frame_rate is not None
        assert 0 < variant.stream_info.frame_rate <= 60, variant.stream_info.frame_rate
    mp4 = real_world.outputs.mp4(job)
    assert mp4 is not None
    times = frame_times(mp4)
    fps = rate(stream_info(mp4, "v:0")[0]["avg_frame_rate"])
    assert fps is not None
    assert fps <= 60
    assert len(times) == pytest.approx(SECONDS * fps, abs=2), (len(times), fps)  # the whole clip, at the new rate


@pytest.mark.parametrize("name", INTERLACED)
def test_interlaced_sources_are_deinterlaced(real_world: RealWorld, name: str) -> None:
    """idet on the published top rung (480 lines, as the source: no scaling that would hide the combing)."""
    source = real_world.runs[name].source
    assert field_stats(source).interlaced_share > 0.9  # the source does comb
    job = real_world.job(name)
    master = m3u8.loads(real_world.outputs.text(keys.master_key(job.job_id)))
    top = real_world.outputs.track(job.job_id, master.playlists[0].uri.split("/")[0])
    (video,) = stream_info(top, "v:0")
    assert video["height"] == 480
    fields = field_stats(top)
    assert video.get("field_order") == "progressive", (video.get("field_order"), fields)
    assert fields.interlaced_share < 0.2, fields


def test_a_variable_frame_rate_phone_clip_becomes_constant_and_stays_in_sync(real_world: RealWorld) -> None:
    source = real_world.runs["vfr_phone"].source
    gaps = {round(b - a, 3) for a, b in itertools.pairwise(frame_times(source))}
    assert len(gaps) > 3  # the source really is variable
    job = real_world.job("vfr_phone")
    mp4 = real_world.outputs.mp4(job)
    assert mp4 is not None
    times = frame_times(mp4)
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert max(steps) - min(steps) < 0.002, (min(steps), max(steps))  # constant frame rate
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert min(abs(rate - standard) for standard in (24, 25, 30, 48, 50, 60)) < 0.05, rate  # one players know
    flash, beep = first_bright_frame(mp4), first_sound(mp4)
    assert flash is not None
    assert beep is not None
    assert flash == pytest.approx(FLASH_AT, abs=0.07)
    assert abs(flash - beep) <= 0.05, (flash, beep)  # sound with picture, within about a frame


def test_three_audio_languages_become_three_renditions(real_world: RealWorld) -> None:
    job = real_world.job("three_languages")
    outputs = real_world.outputs
    master = m3u8.loads(outputs.text(keys.master_key(job.job_id)))
    audio = [m for m in master.media if m.type == "AUDIO"]
    assert len(audio) == 3, [m.uri for m in master.media]
    languages = [m.language for m in audio]
    assert {"en", "fr"} <= set(languages) or {"eng", "fra"} <= set(languages), languages
    assert sum(1 for lang in languages if lang in (None, "und")) == 1, languages  # the unknown one names none
    assert len({m.group_id for m in audio}) == 1
    assert sum(1 for m in audio if m.default == "YES") == 1
    for variant in master.playlists:
        assert variant.stream_info.audio == audio[0].group_id

    mpd = ET.fromstring(outputs.text(keys.dash_key(job.job_id)))
    ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
    sets = [
        a
        for a in mpd.iterfind(".//d:AdaptationSet", ns)
        if a.get("contentType") == "audio" or (a.get("mimeType") or "").startswith("audio")
    ]
    assert len(sets) == 3, [a.attrib for a in mpd.iterfind(".//d:AdaptationSet", ns)]
    assert sum(1 for a in sets if a.get("lang") in ("en", "eng")) == 1, [a.attrib for a in sets]
    assert sum(1 for a in sets if a.get("lang") in ("fr", "fra")) == 1, [a.attrib for a in sets]

    source = real_world.runs["three_languages"].source
    duration = source_duration(source)
    for rendition in audio:
        assert rendition.uri is not None
        track = rendition.uri.split("/")[0]
        (stream,) = stream_info(outputs.track(job.job_id, track), "a")
        assert (stream["codec_name"], stream["channels"], stream["sample_rate"]) == ("aac", 2, "48000"), track
        media = outputs.track(job.job_id, track)
        packets = ffprobe_json(media, "-select_streams", "a:0", "-show_entries", "packet=pts_time,duration_time")
        end = float(packets["packets"][-1]["pts_time"]) + float(packets["packets"][-1]["duration_time"])
        start = float(packets["packets"][0]["pts_time"])
        assert abs(start) < 0.1, (track, start)  # the late track is padded to the video's start
        assert end == pytest.approx(duration, abs=0.15), (track, end, duration)
    # The late track is padded, not pulled forward: its sound still comes 1.5 s in, on the output's timeline
    # (whose zero is the source's first timestamp, here the French track's AAC priming before zero).
    late = next(m for m in audio if m.language in (None, "und"))
    assert late.uri is not None
    sound = first_sound(outputs.track(job.job_id, late.uri.split("/")[0]))
    source_start = float(ffprobe_json(source, "-show_format")["format"]["start_time"])
    assert sound == pytest.approx(LATE_AUDIO_S - source_start, abs=0.06), (sound, source_start)


def test_an_odd_sized_transport_stream_gets_its_thumbnails(real_world: RealWorld) -> None:
    job = real_world.job("ts_400x170")
    prefix = keys.thumbnails_prefix(job.job_id)
    stored = real_world.outputs.listing(prefix)
    names = {key.removeprefix(prefix) for key in stored}
    assert "poster.jpg" in names, sorted(names)
    assert any(re.fullmatch(r"thumb_\d{5}\.jpg", n) for n in names), sorted(names)
    assert "storyboard.vtt" in names, sorted(names)
    for key in stored:
        if key.endswith(".jpg"):
            (still,) = ffprobe_json(real_world.outputs.fetch(key), "-show_streams")["streams"]
            assert still["codec_name"] == "mjpeg"
            assert still["width"] <= 400, key
