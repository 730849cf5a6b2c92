"""The S3 key layout: where sources, intermediate work and outputs live. Every other module reads it here."""

from __future__ import annotations

import re

from lambdas.jobs.model import JOB_ID_PATTERN
from lambdas.media.chunking import AUDIO_ITEM

UPLOAD_PREFIX = "uploads/"  # the uploads bucket: sources, one per job, as the API presigns them
WORK_PREFIX = "work/"  # the uploads bucket too (private, never served): pieces, plans, per-item results
OUTPUT_PREFIX = "outputs/"  # the outputs bucket: what players and users fetch
# The outputs bucket too: private jobs' outputs (Job.private), served only through signed URLs (lambdas/playback).
# CloudFront's `private/*` behaviour trusts only the deployment's key group; nothing under it is public.
PRIVATE_PREFIX = "private/"
# The outputs bucket also holds the web console (console/ in the repository, published after each deploy by
# vodpipe/admin/console.py); no job id can collide with it.
CONSOLE_PREFIX = "console/"

SOURCE_KEY = re.compile(rf"^uploads/(?P<owner>[^/]{{1,256}})/(?P<job_id>{JOB_ID_PATTERN[1:-1]})/source$")

MASTER_PLAYLIST = "master.m3u8"
DASH_MANIFEST = "manifest.mpd"
MEDIA_PLAYLIST = "index.m3u8"
INIT_SEGMENT = "init.mp4"
# The default audio track's directory beside the video renditions'; every audio track's directory is its
# work item's id: "audio", then "audio-1", "audio-2", … for the others (lambdas/media/audio_tracks.py).
AUDIO_TRACK = AUDIO_ITEM


SOURCE_NAME = "source"  # an upload's object name under its job's folder


def source_key(owner: str, job_id: str) -> str:
    return f"{UPLOAD_PREFIX}{owner}/{job_id}/{SOURCE_NAME}"


# --- intermediate work (uploads bucket), one folder per attempt so a retry never reads stale pieces ---


def work_prefix(job_id: str, attempt: int | None = None) -> str:
    base = f"{WORK_PREFIX}{job_id}/"
    return base if attempt is None else f"{base}a{attempt}/"


def plan_key(job_id: str, attempt: int) -> str:
    return f"{work_prefix(job_id, attempt)}plan.json"


def items_key(job_id: str, attempt: int) -> str:
    """The work items as a JSON array: what the Distributed Map's ItemReader reads."""
    return f"{work_prefix(job_id, attempt)}items.json"


def piece_key(job_id: str, attempt: int, chunk: int) -> str:
    return f"{work_prefix(job_id, attempt)}pieces/{chunk:05d}.mkv"


def audio_piece_key(job_id: str, attempt: int, track: str = AUDIO_TRACK) -> str:
    """One audio track's piece: `track` is its item id ("audio", "audio-1", …)."""
    return f"{work_prefix(job_id, attempt)}pieces/{track}.mka"


def result_key(job_id: str, attempt: int, item_id: str) -> str:
    return f"{work_prefix(job_id, attempt)}results/{item_id}.json"


# --- outputs (outputs bucket): every function takes `private` (the job's), which picks the prefix ---


def output_prefix(job_id: str, *, private: bool = False) -> str:
    return f"{PRIVATE_PREFIX if private else OUTPUT_PREFIX}{job_id}/"


def stream_prefix(job_id: str, *, private: bool = False) -> str:
    """One set of CMAF segments, and both manifests that reference them."""
    return f"{output_prefix(job_id, private=private)}cmaf/"


def master_key(job_id: str, *, private: bool = False) -> str:
    return stream_prefix(job_id, private=private) + MASTER_PLAYLIST


def dash_key(job_id: str, *, private: bool = False) -> str:
    return stream_prefix(job_id, private=private) + DASH_MANIFEST


def track_prefix(job_id: str, track: str, *, private: bool = False) -> str:
    """A rendition's (or an audio track's) init segment, media segments and media playlist."""
    return f"{stream_prefix(job_id, private=private)}{track}/"


def caption_source_key(owner: str, job_id: str, caption_id: str) -> str:
    """A caption file as its owner uploads it (uploads bucket, beside the source: the caller's own prefix)."""
    return f"{UPLOAD_PREFIX}{owner}/{job_id}/captions/{caption_id}"


CAPTION_FILE = "captions.vtt"  # the clean WebVTT track; beside it its one-segment media playlist (MEDIA_PLAYLIST)


def caption_prefix(master_key: str, caption_id: str) -> str:
    """A caption's WebVTT file and subtitle playlist, beside the job's master playlist (public or private)."""
    return f"{master_key.rsplit('/', 1)[0]}/subtitles/{caption_id}/"


def segment_name(number: int) -> str:
    return f"seg_{number:05d}.m4s"


def mp4_key(job_id: str, rendition: str, *, private: bool = False) -> str:
    return f"{output_prefix(job_id, private=private)}mp4/{rendition}.mp4"


def audio_prefix(job_id: str, *, private: bool = False) -> str:
    """The audio downloads (lambdas/media/audio_files.py names them: audio.m4a, audio.mp3, audio-16k.wav)."""
    return f"{output_prefix(job_id, private=private)}audio/"


def audio_key(job_id: str, file_name: str, *, private: bool = False) -> str:
    return audio_prefix(job_id, private=private) + file_name


def quality_key(job_id: str, *, private: bool = False) -> str:
    """The job's quality report: every rung's VMAF (or SSIM) against the source (lambdas/media/quality.py)."""
    return f"{output_prefix(job_id, private=private)}quality.json"


def thumbnails_prefix(job_id: str, *, private: bool = False) -> str:
    return f"{output_prefix(job_id, private=private)}thumbnails/"


def job_file(job_id: str, key: str, *, private: bool = False) -> str:
    """`key` relative to the job's output prefix ("cmaf/master.m3u8"); ValueError if it is not under it."""
    prefix = output_prefix(job_id, private=private)
    if not key.startswith(prefix) or len(key) == len(prefix):
        raise ValueError(f"{key!r} is not an output of job {job_id}")
    return key[len(prefix) :]
