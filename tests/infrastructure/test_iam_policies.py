"""parliament over every identity policy of the session's one synthesized app (CloudFormation intrinsics resolved
to placeholder ARNs): no finding above LOW but the documented exceptions (tests/infrastructure/template_checks.py)."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.names import STACKS
from tests.infrastructure.template_checks import (
    PARLIAMENT_EXCEPTIONS,
    Finding,
    Resolver,
    identity_policies,
    parliament_findings,
    policy_exceptions_of,
    unaccepted_policy_findings,
)


@pytest.fixture(scope="module")
def findings(templates: dict[str, dict[str, Any]]) -> dict[str, list[Finding]]:
    return {stack: parliament_findings(templates[stack]) for stack in STACKS}


@pytest.mark.parametrize("stack", STACKS)
def test_every_identity_policy_passes_parliament(findings: dict[str, list[Finding]], stack: str) -> None:
    unexpected = unaccepted_policy_findings(findings[stack])
    assert not unexpected, "\n".join(unexpected)


def test_every_exception_is_still_needed(findings: dict[str, list[Finding]]) -> None:
    used = set().union(*(policy_exceptions_of(f) for stack_findings in findings.values() for f in stack_findings))
    assert set(PARLIAMENT_EXCEPTIONS) <= used, f"no longer reported: {set(PARLIAMENT_EXCEPTIONS) - used}"


def test_every_policy_is_checked_with_no_intrinsic_left(templates: dict[str, dict[str, Any]]) -> None:
    checked = [where for stack in STACKS for where, _ in identity_policies(templates[stack])]
    policies = sum(
        1
        for stack in STACKS
        for r in templates[stack]["Resources"].values()
        if r["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}
    )
    assert len(checked) >= policies > 10
    for stack in STACKS:
        for where, document in identity_policies(templates[stack]):
            assert "Fn::" not in str(document), where
            assert "'Ref'" not in str(document), where
            for statement in document["Statement"]:
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                assert all(r == "*" or r.startswith("arn:aws:") for r in resources), (where, resources)


def test_the_placeholders_have_the_shape_of_their_arns() -> None:
    resolver = Resolver({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}, "T": {"Type": "AWS::DynamoDB::Table"}}})
    assert resolver.resolve({"Fn::GetAtt": ["Q", "Arn"]}) == "arn:aws:sqs:us-east-1:123456789012:q"
    assert resolver.resolve({"Fn::GetAtt": ["T", "StreamArn"]}).startswith(
        "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/"
    )
    joined = {"Fn::Join": ["", [{"Fn::ImportValue": "VodpipeStorage-UploadsBucketArn"}, "/uploads/*"]]}
    assert resolver.resolve(joined) == "arn:aws:s3:::uploads/uploads/*"
    assert resolver.resolve({"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"}) == (
        "arn:aws:logs:us-east-1:123456789012:*"
    )


def test_parliament_has_teeth() -> None:
    bad = {
        "Resources": {
            "P": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": "p",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket"}],
                    },
                },
            }
        }
    }
    assert [f.rule for f in parliament_findings(bad)] == ["RESOURCE_MISMATCH"]
