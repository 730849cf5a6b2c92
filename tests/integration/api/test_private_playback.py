"""Private playback on the deployed stack: a private job's outputs live under private/, GET /jobs/{id} answers
signed links, the signed HLS plays (master -> media playlists -> init and segments, every one 200, and ffprobe
reads it), while a tampered or expired link answers 403, both on the play endpoint and on S3 itself (LocalStack
checks S3 signatures: S3_SKIP_SIGNATURE_VALIDATION=0). LocalStack does not enforce bucket policies, so an unsigned
S3 URL would still answer here; on AWS the `private/*` behaviour trusts only the key group (tests/infrastructure).

One job is shared by the module (a 2 s 640x360 source, one rung).
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit
from uuid import uuid4

import m3u8
import pytest
from botocore.config import Config

from lambdas import keys
from lambdas.playback.s3 import S3PresignedUrls
from lambdas.playback.tokens import PlayTokens
from tests.integration.api.test_api import LAYER_BIN, Client, ffmpeg, wait_for
from vodpipe.local.stack import LocalDeployment
from vodpipe.local.users import create_token

pytestmark = pytest.mark.skipif(not (LAYER_BIN / "ffmpeg").is_file(), reason="ffmpeg layer not built")


def fetch(url: str) -> tuple[int, bytes]:
    """A player's GET: no Authorization header, nothing but the URL."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url), timeout=60) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


def flipped(value: str) -> str:
    return value[:-1] + ("A" if value[-1] != "A" else "B")


@dataclass
class Private:
    stack: LocalDeployment
    alice: Client
    s3: Any
    job: dict[str, Any]
    tokens: PlayTokens
    aws_client: Callable[..., Any]


@pytest.fixture(scope="module")
def private(
    stack: LocalDeployment, aws_client: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> Private:
    media = tmp_path_factory.mktemp("private")
    owner = f"it-private-{uuid4().hex[:8]}"
    alice = Client(stack.api_url, create_token(aws_client("dynamodb"), stack.jobs_table, owner), owner)
    source = media / "source.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=2",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2",
        str(source),
    )  # fmt: skip
    job_id = alice.upload(source.read_bytes(), renditions=["360p"], private=True)["job_id"]
    job = alice.until(job_id, "COMPLETED", "FAILED", deadline_s=240)
    assert job["status"] == "COMPLETED", job.get("error_message")
    # The deployment's play-token key, as the API and PlayManifest read it (to make links of a chosen expiry).
    secrets = aws_client("secretsmanager")
    (arn,) = [
        s["ARN"]
        for s in secrets.list_secrets()["SecretList"]
        if s.get("Description", "").startswith("vodpipe: HMAC key of private playback links")
    ]
    key = secrets.get_secret_value(SecretId=arn)["SecretString"].encode()
    return Private(stack, alice, aws_client("s3"), job, PlayTokens(key), aws_client)


def test_a_private_jobs_outputs_live_under_private_and_its_links_are_never_stored(private: Private) -> None:
    job_id = private.job["job_id"]
    assert private.job["private"] is True
    listed = private.s3.list_objects_v2(Bucket=private.stack.outputs_bucket, Prefix=keys.output_prefix(job_id))
    assert listed.get("KeyCount", 0) == 0
    stored = private.s3.list_objects_v2(
        Bucket=private.stack.outputs_bucket, Prefix=keys.output_prefix(job_id, private=True)
    )
    assert keys.master_key(job_id, private=True) in {o["Key"] for o in stored.get("Contents", [])}
    outputs = private.job["outputs"]
    assert outputs["playback_url"].startswith(f"{private.stack.api_url}/play/{job_id}/cmaf/master.m3u8?exp=")
    assert outputs["dash_url"].startswith(f"{private.stack.api_url}/play/{job_id}/cmaf/manifest.mpd?exp=")
    # The listing is not signed: what is stored has no link at all.
    page = private.alice("GET", "/jobs?limit=5").body
    (listed_job,) = [j for j in page["jobs"] if j["job_id"] == job_id]
    assert listed_job["outputs"]["playback_url"] is None
    assert all(f.get("url") is None for f in listed_job["outputs"]["files"])


def test_the_signed_hls_plays_from_master_to_every_segment(private: Private) -> None:
    master_url = private.job["outputs"]["playback_url"]
    status, body = fetch(master_url)
    assert status == 200, body[:300]
    master = m3u8.loads(body.decode())
    playlists = [p.uri for p in master.playlists] + [m.uri for m in master.media if m.uri]
    assert len(master.playlists) == 1
    assert playlists
    fetched = 0
    for uri in playlists:
        assert uri.startswith(f"{private.stack.api_url}/play/")
        status, body = fetch(uri)
        assert status == 200, body[:300]
        media = m3u8.loads(body.decode())
        assert media.is_endlist
        for segment_uri in [media.segment_map[0].uri, *(s.uri for s in media.segments)]:
            assert "/private/" in segment_uri
            assert "X-Amz-Signature=" in segment_uri
            status, data = fetch(segment_uri)
            assert status == 200, data[:300]
            assert data
            fetched += 1
    assert fetched >= 4  # video init + segment(s), audio init + segment(s)
    probe = subprocess.run(
        [str(LAYER_BIN / "ffprobe"), "-v", "error", "-show_streams", "-of", "json", master_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr[-800:]
    kinds = sorted(s["codec_type"] for s in json.loads(probe.stdout)["streams"])
    assert kinds == ["audio", "video"]


def test_the_signed_dash_manifest_lists_signed_segments(private: Private) -> None:
    status, body = fetch(private.job["outputs"]["dash_url"])
    assert status == 200, body[:300]
    text = body.decode()
    assert "<SegmentList" in text
    assert "SegmentTemplate" not in text
    assert "X-Amz-Signature=" in text


def test_a_tampered_link_is_refused_by_the_play_endpoint_and_by_s3(private: Private) -> None:
    master_url = private.job["outputs"]["playback_url"]
    sig = parse_qs(urlsplit(master_url).query)["sig"][0]
    status, body = fetch(with_query(master_url, sig=flipped(sig)))
    assert status == 403, body[:300]
    assert json.loads(body)["error"] == "forbidden"
    exp = parse_qs(urlsplit(master_url).query)["exp"][0]
    assert fetch(with_query(master_url, exp=str(int(exp) + 3600)))[0] == 403  # a longer life is a new signature
    assert fetch(master_url.split("?", 1)[0])[0] == 403  # no token at all
    _, body = fetch(master_url)
    media_url = m3u8.loads(body.decode()).playlists[0].uri
    _, body = fetch(media_url)
    segment = m3u8.loads(body.decode()).segments[0].uri
    signature = parse_qs(urlsplit(segment).query)["X-Amz-Signature"][0]
    assert fetch(with_query(segment, **{"X-Amz-Signature": flipped(signature)}))[0] == 403
    other = segment.replace("seg_00000", "seg_00001") if "seg_00000" in segment else segment + "x"
    assert fetch(other)[0] == 403  # a signature opens its own object only


def test_an_expired_link_is_refused_by_the_play_endpoint_and_by_s3(private: Private) -> None:
    job_id = private.job["job_id"]
    soon = datetime.now(UTC) + timedelta(seconds=3)
    token = private.tokens.issue(job_id, "cmaf/master.m3u8", soon)
    link = f"{private.stack.api_url}/play/{job_id}/cmaf/master.m3u8?{token.query()}"
    assert fetch(link)[0] == 200
    presigner = private.aws_client("s3", config=Config(signature_version="s3v4"))
    key = keys.stream_prefix(job_id, private=True) + "360p/" + keys.INIT_SEGMENT
    segment = S3PresignedUrls(presigner, private.stack.outputs_bucket).sign(key, soon)
    assert fetch(segment)[0] == 200
    wait_for("the play link to expire", lambda: fetch(link)[0] == 403, deadline_s=15)
    _, body = fetch(link)
    assert "expired" in json.loads(body)["message"]
    wait_for("the S3 link to expire", lambda: fetch(segment)[0] == 403, deadline_s=15)
