"""`make e2e`'s Python half (vodpipe/admin/e2e.py) without AWS: the stage's outputs, the clip, and the walk from the
HLS master to a segment, over a fake CDN."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from stacks.names import stack_name
from vodpipe.admin import e2e

MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="en",DEFAULT=YES,URI="cmaf/audio/en/playlist.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=320x180,CODECS="avc1.64000d,mp4a.40.2",AUDIO="audio"
cmaf/180p/playlist.m3u8
"""
MEDIA = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="init.mp4"
#EXTINF:2.000,
segment-00000.m4s
#EXT-X-ENDLIST
"""
BASE = "https://d111111abcdef8.cloudfront.net/outputs/J1/"


def test_outputs_are_read_from_the_stages_own_stacks(tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(
        json.dumps(
            {
                stack_name("VodpipeStorage", "e2e-1"): {"JobsTableName": "jobs-e2e"},
                stack_name("VodpipePipeline", "e2e-1"): {
                    "ApiUrl": "https://abc.execute-api.eu-west-1.amazonaws.com/v1/",
                    "PlaybackBaseUrl": "https://d111111abcdef8.cloudfront.net",
                },
            }
        )
    )
    outputs = e2e.StageOutputs.from_file(path, "e2e-1")
    assert outputs.jobs_table == "jobs-e2e"
    assert outputs.playback_base_url == "https://d111111abcdef8.cloudfront.net"
    with pytest.raises(e2e.E2eError, match="VodpipeStorage-e2e-2"):
        e2e.StageOutputs.from_file(path, "e2e-2")


def test_stage_names_are_checked() -> None:
    assert stack_name("VodpipeStorage") == "VodpipeStorage"
    assert stack_name("VodpipeStorage", "e2e-1700000000") == "VodpipeStorage-e2e-1700000000"
    with pytest.raises(ValueError, match="vodpipe:stage"):
        stack_name("VodpipeStorage", "E2E_1")


def test_the_walk_from_the_master_to_a_segment() -> None:
    assert e2e.variant_uri(MASTER) == "cmaf/180p/playlist.m3u8"
    assert e2e.media_files(MEDIA) == ("init.mp4", "segment-00000.m4s")
    assert "cmaf/audio/en/playlist.m3u8" in e2e.playlist_uris(MASTER)
    served = {
        BASE + "master.m3u8": MASTER.encode(),
        BASE + "cmaf/180p/playlist.m3u8": MEDIA.encode(),
        BASE + "cmaf/180p/init.mp4": b"\0\0\0\x18ftyp",
        BASE + "cmaf/180p/segment-00000.m4s": b"\0\0\0\x18moof",
    }
    asked: list[str] = []

    def cdn(url: str) -> tuple[int, bytes]:
        asked.append(url)
        return (200, served[url]) if url in served else (403, b"")

    fetched = e2e.check_playback(BASE + "master.m3u8", cdn, attempts=1)
    assert fetched == list(served)
    assert asked == list(served)


def test_a_missing_segment_fails_naming_it() -> None:
    def cdn(url: str) -> tuple[int, bytes]:
        return (
            (200, MASTER.encode())
            if url.endswith("master.m3u8")
            else (200, MEDIA.encode())
            if "playlist" in url
            else (403, b"")
        )

    with pytest.raises(e2e.E2eError, match=r"init segment: GET .*init\.mp4 answered HTTP 403"):
        e2e.check_playback(BASE + "master.m3u8", cdn, attempts=1)
    with pytest.raises(e2e.E2eError, match="no variant"):
        e2e.variant_uri("#EXTM3U\n")
    with pytest.raises(e2e.E2eError, match="no segment"):
        e2e.media_files("#EXTM3U\n#EXT-X-ENDLIST\n")


def test_the_clip_is_made_by_the_layers_ffmpeg(tmp_path: Path) -> None:
    out = tmp_path / "e2e.mp4"
    made = subprocess.run(e2e.clip_argv(e2e.FFMPEG, out), capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    assert out.stat().st_size > 1000


def test_the_script_is_valid_bash_and_destroys_on_exit() -> None:
    script = e2e.ROOT / "scripts" / "e2e.sh"
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    text = script.read_text()
    assert "trap cleanup EXIT" in text
    assert "node_modules/.bin/cdk" in text
    assert "vodpipe:stage=$STAGE" in text
