"""`vodpipe status`'s audio lines: the downloads by file name and size, each normalised mix's loudness."""

from __future__ import annotations

from vodpipe.client.audio import audio_lines


def test_a_job_without_audio_downloads_shows_nothing() -> None:
    assert audio_lines({"job_id": "x", "audio_files": []}) == []
    assert audio_lines({"job_id": "x"}) == []


def test_the_files_and_each_mix_are_one_line_each() -> None:
    job = {
        "audio_files": [
            {"kind": "audio", "key": "outputs/J/audio/audio.m4a", "size_bytes": 49_152},
            {"kind": "wav16k", "key": "outputs/J/audio/audio-16k.wav", "size_bytes": 3 << 20},
        ],
        "audio_ready_at": "2026-03-01T12:00:03.000000Z",
        "audio_loudness": [
            {"mix": "stereo", "target_lufs": -16, "input_lufs": -35.24, "output_lufs": -16.02, "mode": "linear"},
            {"mix": "mono", "target_lufs": -16, "input_lufs": None, "output_lufs": None, "mode": "silent"},
        ],
    }
    assert audio_lines(job) == [
        "audio: audio.m4a 48 KB, audio-16k.wav 3.0 MB (ready 2026-03-01T12:00:03.000000Z)",
        "loudness stereo: -35.2 → -16.0 LUFS (target -16.0, linear)",
        "loudness mono: silent, left as it is",
    ]
