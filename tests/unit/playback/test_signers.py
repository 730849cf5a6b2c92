from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from lambdas.playback.cloudfront import CloudFrontUrlSigner
from lambdas.playback.ports import UrlSigner
from lambdas.playback.s3 import S3PresignedUrls

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
KEY = "private/01JBX7Q8K9M2N3P4R5S6T7V8W9/cmaf/720p/seg_00001.m4s"


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def cloudfront_b64decode(value: str) -> bytes:
    return base64.b64decode(value.replace("-", "+").replace("_", "=").replace("~", "/"))


def test_a_cloudfront_url_carries_a_canned_policy_signature_the_public_key_verifies() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    expires = NOW + timedelta(minutes=20)
    url = CloudFrontUrlSigner("https://d111.cloudfront.net/", "K2JCJMDEHXQW5F", lambda: pem(private)).sign(KEY, expires)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"https://d111.cloudfront.net/{KEY}"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["Key-Pair-Id"] == "K2JCJMDEHXQW5F"
    assert query["Expires"] == str(int(expires.timestamp()))
    policy = json.dumps(
        {
            "Statement": [
                {
                    "Resource": f"https://d111.cloudfront.net/{KEY}",
                    "Condition": {"DateLessThan": {"AWS:EpochTime": int(expires.timestamp())}},
                }
            ]
        },
        separators=(",", ":"),
    ).encode()
    signature = cloudfront_b64decode(query["Signature"])
    private.public_key().verify(signature, policy, padding.PKCS1v15(), hashes.SHA1())
    later = policy.replace(str(int(expires.timestamp())).encode(), str(int(expires.timestamp()) + 1).encode())
    with pytest.raises(InvalidSignature):  # the signature covers the expiry
        private.public_key().verify(signature, later, padding.PKCS1v15(), hashes.SHA1())


def test_the_cloudfront_signer_reads_its_key_once_and_refuses_what_cloudfront_would_not_verify() -> None:
    reads: list[int] = []
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def read() -> str:
        reads.append(1)
        return pem(private)

    signer = CloudFrontUrlSigner("https://d111.cloudfront.net", "K", read)
    assert not reads  # nothing read at construction (cold start stays cheap until a private job is seen)
    signer.sign(KEY, NOW)
    signer.sign(KEY, NOW)
    assert len(reads) == 1
    with pytest.raises(ValueError, match="RSA"):
        CloudFrontUrlSigner("https://d.net", "K", lambda: pem(ec.generate_private_key(ec.SECP256R1()))).sign(KEY, NOW)
    with pytest.raises(ValueError, match="https"):
        CloudFrontUrlSigner("http://d.net", "K", read)


def test_an_s3_presigned_get_lasts_until_the_expiry_asked_for() -> None:
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        endpoint_url="http://localhost:4566",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    signer = S3PresignedUrls(client, "outputs-bucket", clock=lambda: NOW)
    url = signer.sign(KEY, NOW + timedelta(seconds=1234.2))
    parts = urlsplit(url)
    assert parts.path == f"/outputs-bucket/{KEY}"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["X-Amz-Expires"] == "1235"
    assert query["X-Amz-Signature"]
    # Past or too far: clamped to what SigV4 allows (1 s .. 7 days).
    assert "X-Amz-Expires=1&" in signer.sign(KEY, NOW - timedelta(hours=1)) + "&"
    assert "X-Amz-Expires=604800" in signer.sign(KEY, NOW + timedelta(days=30))


def test_a_cloudfront_prefix_grant_is_one_custom_policy_over_the_whole_stream() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    expires = NOW + timedelta(minutes=20)
    signer = CloudFrontUrlSigner("https://d111.cloudfront.net", "K2JCJMDEHXQW5F", lambda: pem(private))
    stream = "private/01JBX7Q8K9M2N3P4R5S6T7V8W9/cmaf/"
    grant = signer.sign_prefix(stream, expires)
    url = grant.url(stream + "720p/seg_$Number%05d$.m4s")
    parts = urlsplit(url)
    assert parts.path == f"/{stream}720p/seg_$Number%05d$.m4s"  # the template survives for the player to fill
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert set(query) == {"Policy", "Signature", "Key-Pair-Id"}
    policy = cloudfront_b64decode(query["Policy"])
    assert json.loads(policy) == {
        "Statement": [
            {
                "Resource": f"https://d111.cloudfront.net/{stream}*",
                "Condition": {"DateLessThan": {"AWS:EpochTime": int(expires.timestamp())}},
            }
        ]
    }
    private.public_key().verify(cloudfront_b64decode(query["Signature"]), policy, padding.PKCS1v15(), hashes.SHA1())
    assert grant.url(stream + "audio/init.mp4").endswith("?" + parts.query)  # one signature for every file
    with pytest.raises(ValueError, match="not under"):
        grant.url("private/01JBX7Q8K9M2N3P4R5S6T7V8WA/cmaf/720p/init.mp4")
    with pytest.raises(ValueError, match="end with /"):
        signer.sign_prefix(stream.rstrip("/"), expires)
    s3: UrlSigner = S3PresignedUrls(object(), "b")
    assert s3.sign_prefix(stream, expires) is None  # S3 has no such thing: one signature per object
