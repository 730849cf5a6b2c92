"""The S3 key layout: where sources, intermediate work and outputs live. Every other module reads it here."""

from __future__ import annotations

import re

from lambdas.jobs.model import JOB_ID_PATTERN
from lambdas.media.chunking import AUDIO_ITEM

UPLOAD_PREFIX = "uploads/"  # the uploads bucket: sources, one per job, as the API presigns them
WORK_PREFIX = "work/"  # the uploads bucket too (private, never served): pieces, plans, per-item results
OUTPUT_PREFIX = "outputs/"  # the outputs bucket: what players and users fetch

SOURCE_KEY = re.compile(rf"^uploads/(?P<owner>[^/]{{1,256}})/(?P<job_id>{JOB_ID_PATTERN[1:-1]})/source$")

MASTER_PLAYLIST = "master.m3u8"
DASH_MANIFEST = "manifest.mpd"
MEDIA_PLAYLIST = "index.m3u8"
INIT_SEGMENT = "init.mp4"
# The default audio track's directory beside the video renditions'; every audio track's directory is its
# work item's id: "audio", then "audio-1", "audio-2", … for the others (lambdas/media/audio_tracks.py).
AUDIO_TRACK = AUDIO_ITEM


def source_key(owner: str, job_id: str) -> str:
    return f"{UPLOAD_PREFIX}{owner}/{job_id}/source"


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


# --- outputs (outputs bucket) ---


def output_prefix(job_id: str) -> str:
    return f"{OUTPUT_PREFIX}{job_id}/"


def stream_prefix(job_id: str) -> str:
    """One set of CMAF segments, and both manifests that reference them."""
    return f"{output_prefix(job_id)}cmaf/"


def master_key(job_id: str) -> str:
    return stream_prefix(job_id) + MASTER_PLAYLIST


def dash_key(job_id: str) -> str:
    return stream_prefix(job_id) + DASH_MANIFEST


def track_prefix(job_id: str, track: str) -> str:
    """A rendition's (or an audio track's) init segment, media segments and media playlist."""
    return f"{stream_prefix(job_id)}{track}/"


def segment_name(number: int) -> str:
    return f"seg_{number:05d}.m4s"


def mp4_key(job_id: str, rendition: str) -> str:
    return f"{output_prefix(job_id)}mp4/{rendition}.mp4"


def quality_key(job_id: str) -> str:
    """The job's quality report: every rung's VMAF (or SSIM) against the source (lambdas/media/quality.py)."""
    return f"{output_prefix(job_id)}quality.json"


def thumbnails_prefix(job_id: str) -> str:
    return f"{output_prefix(job_id)}thumbnails/"
