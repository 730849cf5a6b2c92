"""Private playback in the templates: `private/*` never public, signed only by the deployment's key group, the play
route without the token authorizer, and each function's grants for it exactly what it signs with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from stacks.config import DeploymentConfig
from stacks.constructs.playback_cdn import DENY_ALL
from stacks.names import PIPELINE_STACK, STORAGE_STACK
from tests.conftest import dumps, resources_of

CDK_JSON = Path(__file__).parents[2] / "cdk.json"
SECRET = "vodpipe/cloudfront-private-key"


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


PEM = public_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The app synthesized (cdk-nag included) for AWS with a deployer's signing key."""
    import aws_cdk as cdk

    from app import build_app

    context = json.loads(CDK_JSON.read_text())["context"]
    context["vodpipe"] = {
        **context["vodpipe"],
        "private_playback_public_key": PEM,
        "private_playback_key_secret": SECRET,
    }
    outdir = tmp_path_factory.mktemp("keyed")
    app = build_app(cdk.App(outdir=str(outdir), context=context, builtin_cloud_formation_validation=False))
    return {s.stack_name: s.template for s in app.synth().stacks}


def _distribution(template: dict[str, Any]) -> dict[str, Any]:
    (dist,) = resources_of(template, "AWS::CloudFront::Distribution").values()
    config: dict[str, Any] = dist["Properties"]["DistributionConfig"]
    return config


def _private_behaviour(template: dict[str, Any]) -> dict[str, Any]:
    behaviours = _distribution(template)["CacheBehaviors"]
    # CloudFront takes the first matching pattern: private/* before *.m3u8, or manifests would be public.
    assert behaviours[0]["PathPattern"] == "private/*"
    first: dict[str, Any] = behaviours[0]
    return first


def _function(template: dict[str, Any], name: str) -> tuple[str, dict[str, Any]] | None:
    found = [
        (k, v) for k, v in resources_of(template, "AWS::Lambda::Function").items() if k.startswith(f"Functions{name}")
    ]
    return found[0] if found else None


def _grants(template: dict[str, Any], function_id: str) -> list[tuple[set[str], str]]:
    grants = []
    for logical_id, policy in resources_of(template, "AWS::IAM::Policy").items():
        if logical_id.startswith(function_id):
            for stmt in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
                grants.append((set(actions), dumps(stmt["Resource"])))
    return grants


def test_without_a_key_private_outputs_are_refused_at_the_edge(templates: dict[str, dict[str, Any]]) -> None:
    storage = templates[STORAGE_STACK]
    behaviour = _private_behaviour(storage)
    assert "TrustedKeyGroups" not in behaviour
    ((association),) = behaviour["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    (function,) = resources_of(storage, "AWS::CloudFront::Function").values()
    assert function["Properties"]["FunctionCode"] == DENY_ALL
    assert "statusCode: 403" in DENY_ALL
    assert not resources_of(storage, "AWS::CloudFront::KeyGroup")
    # And the pipeline signs nothing: no play route, no key, the API told it cannot make private jobs.
    pipeline = templates[PIPELINE_STACK]
    assert _function(pipeline, "PlayManifest") is None
    assert not resources_of(pipeline, "AWS::SecretsManager::Secret")
    api = _function(pipeline, "JobsApi")
    assert api is not None
    assert "PRIVATE_URL_SIGNER" not in api[1]["Properties"]["Environment"]["Variables"]


def test_the_outputs_bucket_is_never_public_and_only_cloudfront_reads_it(templates: dict[str, dict[str, Any]]) -> None:
    storage = templates[STORAGE_STACK]
    (outputs_id,) = [k for k in resources_of(storage, "AWS::S3::Bucket") if k.startswith("BucketsOutputs")]
    props = resources_of(storage, "AWS::S3::Bucket")[outputs_id]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (policy,) = [
        p
        for p in resources_of(storage, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": outputs_id}
    ]
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        if statement["Effect"] == "Allow":
            assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
            assert "AWS:SourceArn" in dumps(statement["Condition"])


def test_with_a_key_only_the_deployments_key_group_opens_private_outputs(keyed: dict[str, dict[str, Any]]) -> None:
    storage = keyed[STORAGE_STACK]
    behaviour = _private_behaviour(storage)
    (group_id,) = resources_of(storage, "AWS::CloudFront::KeyGroup")
    assert behaviour["TrustedKeyGroups"] == [{"Ref": group_id}]
    assert "FunctionAssociations" not in behaviour
    (key_id, key) = next(iter(resources_of(storage, "AWS::CloudFront::PublicKey").items()))
    assert key["Properties"]["PublicKeyConfig"]["EncodedKey"] == PEM
    group = resources_of(storage, "AWS::CloudFront::KeyGroup")[group_id]
    assert group["Properties"]["KeyGroupConfig"]["Items"] == [{"Ref": key_id}]
    # The other behaviours stay public (the streams of public jobs), and none of them matches private/ first.
    assert all("TrustedKeyGroups" not in b for b in _distribution(storage)["CacheBehaviors"][1:])
    assert storage["Outputs"]["PlaybackKeyPairId"]["Value"] == {"Ref": key_id}


def test_the_play_route_is_the_only_one_without_the_authorizer(keyed: dict[str, dict[str, Any]]) -> None:
    pipeline = keyed[PIPELINE_STACK]
    resources = resources_of(pipeline, "AWS::ApiGateway::Resource")
    paths = {k: r["Properties"]["PathPart"] for k, r in resources.items()}
    (files_id,) = [k for k, part in paths.items() if part == "{file+}"]
    player = _function(pipeline, "PlayManifest")
    assert player is not None
    open_methods = []
    for method in resources_of(pipeline, "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        if props["AuthorizationType"] == "NONE" and props["HttpMethod"] != "OPTIONS":
            open_methods.append(props)
    on_play = [m for m in open_methods if m.get("ResourceId") == {"Ref": files_id}]
    assert sorted(m["HttpMethod"] for m in on_play) == ["GET", "HEAD"]
    for method in on_play:
        assert player[0] in dumps(method["Integration"]["Uri"])
    assert len(open_methods) == len(on_play) + 1  # and GET /openapi.json


def test_each_signer_holds_exactly_the_keys_it_signs_with(keyed: dict[str, dict[str, Any]]) -> None:
    pipeline = keyed[PIPELINE_STACK]
    (secret_id, secret) = next(iter(resources_of(pipeline, "AWS::SecretsManager::Secret").items()))
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    for name in ("PlayManifest", "JobsApi"):
        found = _function(pipeline, name)
        assert found is not None
        _, fn = found
        env = fn["Properties"]["Environment"]["Variables"]
        assert env["PRIVATE_URL_SIGNER"] == "cloudfront"
        assert env["PLAY_TOKEN_SECRET"] == {"Ref": secret_id}
        assert env["CLOUDFRONT_PRIVATE_KEY_SECRET"] == SECRET
        assert "PlaybackKeyPairId" in dumps(env["CLOUDFRONT_KEY_PAIR_ID"])
        assert "execute-api" in dumps(env["PLAY_BASE_URL"])
        grants = _grants(pipeline, f"Functions{name}")
        reads = [resource for actions, resource in grants if "secretsmanager:GetSecretValue" in actions]
        assert any(secret_id in r for r in reads), name
        assert any(SECRET in r for r in reads), name
    player_grants = _grants(pipeline, "FunctionsPlayManifest")
    s3_grants = [(a, r) for a, r in player_grants if any(x.startswith("s3:") for x in a)]
    player_reads = [(a, r) for a, r in s3_grants if a != {"s3:ListBucket"}]
    assert player_reads == [({"s3:GetObject"}, player_reads[0][1])]
    assert "/private/*" in player_reads[0][1]
    # A manifest that is not there answers 404 (ManifestNotFound), not 403: listing under private/ only.
    (listing,) = [r for a, r in s3_grants if a == {"s3:ListBucket"}]
    assert "OutputsBucketArn" in listing
    # Under private/ the API deletes (cancel) and reads (its presigned downloads carry its permission), no more.
    everything = '"/private/*"'  # the whole prefix (captions' grants are on <job>/cmaf/ only)
    api_private = {a for actions, r in _grants(pipeline, "FunctionsJobsApi") if everything in r for a in actions}
    assert api_private == {"s3:DeleteObject", "s3:GetObject"}


def test_a_half_given_or_unusable_key_fails_synth_naming_the_setting() -> None:
    with pytest.raises(ValidationError, match="go together"):
        DeploymentConfig.from_context({"private_playback_public_key": PEM})
    with pytest.raises(ValidationError, match="go together"):
        DeploymentConfig.from_context({"private_playback_key_secret": SECRET})
    with pytest.raises(ValidationError, match="not a PEM public key"):
        DeploymentConfig.from_context(
            {"private_playback_public_key": "ssh-rsa AAAA", "private_playback_key_secret": SECRET}
        )
    small = public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(ValidationError, match="RSA 2048"):
        DeploymentConfig.from_context({"private_playback_public_key": small, "private_playback_key_secret": SECRET})
    config = DeploymentConfig.from_context({"private_playback_public_key": PEM, "private_playback_key_secret": SECRET})
    assert config.private_url_signer == "cloudfront"
    assert DeploymentConfig.from_context({}).private_url_signer == ""
    assert DeploymentConfig.from_context({"playback_s3_endpoint": "http://localhost:4566"}).private_url_signer == "s3"


def test_the_keyed_templates_pass_cfn_lint_and_parliament(keyed: dict[str, dict[str, Any]]) -> None:
    # The signing key adds resources (key group, public key, secret, PlayManifest): linted on the synth made here.
    from tests.infrastructure.template_checks import (
        cfn_lint_findings,
        parliament_findings,
        unaccepted_lint_findings,
        unaccepted_policy_findings,
    )

    for stack in (STORAGE_STACK, PIPELINE_STACK):
        lint = unaccepted_lint_findings(cfn_lint_findings(keyed[stack]))
        policies = unaccepted_policy_findings(parliament_findings(keyed[stack]))
        assert not lint + policies, "\n".join(lint + policies)
