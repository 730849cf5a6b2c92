"""Buckets and CDN: targeted assertions on the synthesized storage stack (the table: test_jobs_table.py)."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template

from lambdas.keys import UPLOAD_PREFIX, WORK_PREFIX
from tests.conftest import resources_of


def _buckets(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources_of(template, "AWS::S3::Bucket")


def _uploads(templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (bucket,) = [b for k, b in _buckets(templates["VodpipeStorage"]).items() if k.startswith("BucketsUploads")]
    properties: dict[str, Any] = bucket["Properties"]
    return properties


def test_every_bucket_is_private_encrypted_and_tls_only(templates: dict[str, dict[str, Any]]) -> None:
    template = templates["VodpipeStorage"]
    buckets = _buckets(template)
    assert len(buckets) == 3  # uploads, outputs, access logs
    policies = resources_of(template, "AWS::S3::BucketPolicy")
    for logical_id, bucket in buckets.items():
        props = bucket["Properties"]
        assert (
            props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
                "SSEAlgorithm"
            ]
            == "AES256"
        ), logical_id
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, logical_id
        (policy,) = [p for p in policies.values() if p["Properties"]["Bucket"] == {"Ref": logical_id}]
        denies = [
            s
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denies, f"{logical_id} accepts plain HTTP"
        assert denies[0]["Action"] == "s3:*"


def test_uploads_bucket_serves_browser_multipart_uploads(templates: dict[str, dict[str, Any]]) -> None:
    props = _uploads(templates)
    (cors,) = props["CorsConfiguration"]["CorsRules"]
    assert "PUT" in cors["AllowedMethods"]
    assert cors["ExposedHeaders"] == ["ETag"]
    rules = props["LifecycleConfiguration"]["Rules"]
    assert {"AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}, "Status": "Enabled"} in rules


def test_work_left_by_abandoned_attempts_expires_but_sources_do_not(templates: dict[str, dict[str, Any]]) -> None:
    rules = _uploads(templates)["LifecycleConfiguration"]["Rules"]
    expiring = [r for r in rules if "ExpirationInDays" in r]
    # Pieces, plans and results an attempt left (PackageOutputs removes them when it gets that far).
    assert expiring == [{"ExpirationInDays": 2, "Prefix": WORK_PREFIX, "Status": "Enabled"}]
    assert WORK_PREFIX == "work/"
    assert not WORK_PREFIX.startswith(UPLOAD_PREFIX)  # a prefix rule on work/ can never expire a source


def test_uploads_bucket_sends_events_to_eventbridge_without_a_custom_resource(
    templates: dict[str, dict[str, Any]],
) -> None:
    props = _uploads(templates)
    assert props["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}


def test_cdn_uses_origin_access_control_and_https(storage: Template, templates: dict[str, dict[str, Any]]) -> None:
    storage.resource_count_is("AWS::CloudFront::OriginAccessControl", 1)
    (dist,) = resources_of(templates["VodpipeStorage"], "AWS::CloudFront::Distribution").values()
    config = dist["Properties"]["DistributionConfig"]
    behaviors = [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]
    assert {b.get("PathPattern") for b in behaviors} == {None, "private/*", "*.m3u8", "*.vtt", "console/*"}
    for behavior in behaviors:
        assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
        assert "ResponseHeadersPolicyId" in behavior
    (origin,) = config["Origins"]
    assert "OriginAccessControlId" in origin
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}


def test_playlists_cache_briefly_and_segments_long(templates: dict[str, dict[str, Any]]) -> None:
    policies = resources_of(templates["VodpipeStorage"], "AWS::CloudFront::CachePolicy")
    ttls = sorted(p["Properties"]["CachePolicyConfig"]["DefaultTTL"] for p in policies.values())
    assert ttls == [10, 7 * 24 * 3600]
