"""One row per corpus file (corpus.toml): what the deployed pipeline did with it against what it must do.

Run by `make conformance` (this file is named explicitly: it is not a test_*.py, so `make test` never collects it).
Fixtures and the summary table: conftest.py beside this file.
"""

from __future__ import annotations

import re

import m3u8
import pytest

from lambdas import keys
from lambdas.jobs.model import JobStatus
from tests.conformance.conftest import Conformance, corpus
from tests.conformance.fetch import Entry
from tests.media_tools import LAYER_BIN
from tests.pipeline_jobs import Outputs, Submitted, outcome, playback_problems, rate, stream_info

pytestmark = pytest.mark.skipif(not (LAYER_BIN / "ffprobe").is_file(), reason="ffmpeg layer not built")

ENTRIES = corpus()


def completed_problems(entry: Entry, run: Submitted, outputs: Outputs) -> list[str]:
    """Everything a COMPLETED job's outputs break of the entry's expectation (empty: as expected)."""
    job = run.job
    assert job is not None
    assert job.outputs is not None
    problems: list[str] = []
    if entry.renditions is not None:
        master = m3u8.loads(outputs.text(keys.master_key(job.job_id)))
        variants = tuple(p.uri.split("/")[0] for p in master.playlists)
        if variants != entry.renditions:
            problems.append(f"renditions {list(variants)}, expected {list(entry.renditions)}")
    if not job.outputs.dash_url:
        problems.append("no DASH manifest")
    mp4 = outputs.mp4(job)
    if mp4 is None:
        problems.append("no MP4 fallback")
    else:
        problems += playback_problems(
            mp4, duration=entry.duration, audio=entry.audio, duration_tolerance_s=entry.duration_tolerance
        )
        if entry.fps is not None:
            fps = rate(stream_info(mp4, "v:0")[0].get("avg_frame_rate"))
            if fps is None or abs(fps - entry.fps) > 0.05:
                problems.append(f"{fps} fps, expected {entry.fps:g}")
    if entry.thumbnails:
        prefix = keys.thumbnails_prefix(job.job_id)
        names = {key.removeprefix(prefix) for key in outputs.listing(prefix)}
        stills = sorted(n for n in names if re.fullmatch(r"thumb_\d{5}\.jpg", n))
        missing = [n for n in ("poster.jpg", "storyboard.vtt") if n not in names]
        if missing or len(stills) < 5:
            problems.append(f"thumbnails: {', '.join(missing) or 'nothing'} missing, {len(stills)} of 5 stills")
    return problems


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_corpus_file(conformance: Conformance, entry: Entry) -> None:
    row, run = conformance.rows[entry.name], conformance.runs[entry.name]
    row.seconds = run.seconds
    got = outcome(run)
    job = run.job
    if entry.expect == "COMPLETED":
        problems = completed_problems(entry, run, conformance.outputs) if got == "COMPLETED" else []
        row.ok = got == "COMPLETED" and not problems
        row.got = "; ".join([got, *problems])
    else:
        failed = run.upload_error is not None or (job is not None and job.status is JobStatus.FAILED)
        row.ok = failed and entry.reason is not None and entry.reason in got
        row.got = got
    assert row.ok, f"{entry.name} ({entry.what}): expected {entry.expect} {entry.reason or ''}, got {row.got}"
