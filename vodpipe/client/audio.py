"""A job's audio downloads and their loudness, as `vodpipe status` shows them (the job view's `audio_files`)."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]


def audio_lines(job: Json) -> list[str]:
    """`audio: audio.m4a 48 KB, audio-16k.wav 96 KB (ready 12:00:03Z)` and one line per normalised mix:
    `loudness stereo: -35.2 → -16.0 LUFS (linear)`; nothing for a job without audio downloads."""
    files = [f for f in job.get("audio_files") or () if isinstance(f, dict)]
    if not files:
        return []
    named = ", ".join(f"{str(f.get('key', '')).rsplit('/', 1)[-1]} {_size(f.get('size_bytes'))}" for f in files)
    ready = job.get("audio_ready_at")
    lines = [f"audio: {named}" + (f" (ready {ready})" if ready else "")]
    for mix in job.get("audio_loudness") or ():
        before, after = mix.get("input_lufs"), mix.get("output_lufs")
        if mix.get("mode") == "silent":
            lines.append(f"loudness {mix.get('mix')}: silent, left as it is")
            continue
        lines.append(
            f"loudness {mix.get('mix')}: {_lufs(before)} → {_lufs(after)} LUFS"
            f" (target {_lufs(mix.get('target_lufs'))}, {mix.get('mode')})"
        )
    return lines


def _lufs(value: object) -> str:
    return f"{float(value):.1f}" if isinstance(value, int | float) else "?"


def _size(value: object) -> str:
    if not isinstance(value, int):
        return "?"
    if value >= 1 << 20:
        return f"{value / (1 << 20):.1f} MB"
    return f"{max(1, round(value / 1024))} KB"
