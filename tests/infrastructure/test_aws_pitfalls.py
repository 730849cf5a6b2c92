"""What only AWS would show (LocalStack enforces no IAM and no account limits), pinned on the templates: state
machine logs under /aws/vendedlogs/states/, the API Gateway account role left alone unless asked for, every reader
of a bucket allowed to list what it reads (a missing key is then 404, not 403); the authorizer's failures are in
tests/unit/auth/test_authorizer_failures.py, the CORS of its 500 in test_cors.py (DEFAULT_5XX)."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from stacks.config import DeploymentConfig
from stacks.constructs.jobs_api import JobsApi
from stacks.constructs.transcode_workflow import VENDED_LOGS_PREFIX
from stacks.names import PIPELINE_STACK, STACKS
from stacks.s3_listing import listing_statement
from tests.conftest import dumps, resources_of


def test_state_machine_logs_are_vended_log_groups(templates: dict[str, dict[str, Any]]) -> None:
    # CloudWatch Logs' resource policy for vended delivery holds 5,120 characters; names outside this prefix each
    # add to it until deploys fail. Every state machine's log group is named under it, and named per stack.
    template = templates[PIPELINE_STACK]
    groups = resources_of(template, "AWS::Logs::LogGroup")
    machines = resources_of(template, "AWS::StepFunctions::StateMachine")
    assert machines
    for machine_id, machine in machines.items():
        destinations = machine["Properties"]["LoggingConfiguration"]["Destinations"]
        assert destinations, machine_id
        for destination in destinations:
            group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
            name = groups[group_id]["Properties"]["LogGroupName"]
            assert name.startswith(VENDED_LOGS_PREFIX), name
            assert PIPELINE_STACK in name, name


def test_the_api_gateway_account_role_is_left_alone_by_default(templates: dict[str, dict[str, Any]]) -> None:
    assert DeploymentConfig().api_gateway_cloudwatch_role is False
    for stack in STACKS:
        assert not resources_of(templates[stack], "AWS::ApiGateway::Account"), stack
    pipeline = templates[PIPELINE_STACK]
    (stage,) = resources_of(pipeline, "AWS::ApiGateway::Stage").values()
    # Access logs still go to the API's own log group.
    assert "Fn::GetAtt" in dumps(stage["Properties"]["AccessLogSetting"]["DestinationArn"])


@pytest.mark.parametrize("role", [False, True])
def test_the_construct_makes_the_account_role_only_when_asked(tmp_path: Path, role: bool) -> None:
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path)), "Api")
    code = lambda_.Code.from_inline("def handler(event, context): return None")

    def function(name: str) -> lambda_.Function:
        return lambda_.Function(stack, name, runtime=lambda_.Runtime.PYTHON_3_13, handler="index.handler", code=code)

    JobsApi(
        stack,
        "JobsApi",
        handler=function("Handler"),
        authorizer=function("Authorizer"),
        log_retention=logs.RetentionDays.ONE_DAY,
        removal_policy=cdk.RemovalPolicy.DESTROY,
        cloud_watch_role=role,
    )
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::ApiGateway::Account", 1 if role else 0)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _bucket_and_prefix(resource: Any) -> tuple[str, str] | None:
    """("UploadsBucketArn", "uploads/") for the key ARN Join [<import of the bucket ARN>, "/uploads/*"]."""
    join = resource.get("Fn::Join") if isinstance(resource, dict) else None
    if not join:
        return None
    parts = join[1]
    bucket = dumps(parts[0])
    for name in ("UploadsBucketArn", "OutputsBucketArn"):
        if name in bucket and isinstance(parts[-1], str) and parts[-1].startswith("/"):
            return name, parts[-1].lstrip("/").split("/", 1)[0] + "/"
    return None


def _roles_statements(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    by_role: dict[str, list[dict[str, Any]]] = {}
    for policy in resources_of(template, "AWS::IAM::Policy").values():
        for role in policy["Properties"]["Roles"]:
            by_role.setdefault(dumps(role), []).extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return by_role


def _may_list(statements: list[dict[str, Any]], bucket: str, prefix: str) -> bool:
    key = f"{prefix}some/object"
    for statement in statements:
        if "s3:ListBucket" not in _listed(statement["Action"]):
            continue
        if not any(
            bucket in dumps(r) and "/" not in dumps(r).split(bucket)[-1] for r in _listed(statement["Resource"])
        ):
            continue
        condition = statement.get("Condition")
        if condition is None:
            return True
        patterns = _listed(condition.get("StringLike", {}).get("s3:prefix", []))
        if any(fnmatch.fnmatchcase(key, p) for p in patterns):
            return True
    return False


def test_every_reader_of_a_bucket_may_list_what_it_reads(templates: dict[str, dict[str, Any]]) -> None:
    # S3 answers a missing key 404 NoSuchKey only to a caller with s3:ListBucket on the bucket; to anyone else it
    # answers 403 AccessDenied, and "the source is gone" reads as a permissions error (lambdas/storage/s3.py maps
    # NoSuchKey to ObjectNotFound, AccessDenied to StoreAccessDenied: tests/unit/storage/test_s3_errors.py).
    readers = 0
    for role, statements in _roles_statements(templates[PIPELINE_STACK]).items():
        for statement in statements:
            if "s3:GetObject" not in _listed(statement["Action"]):
                continue
            for resource in _listed(statement["Resource"]):
                where = _bucket_and_prefix(resource)
                if where is None:
                    continue
                readers += 1
                assert _may_list(statements, *where), f"{role} reads {where} but may not list it"
    assert readers >= 10


def test_listing_the_uploads_bucket_is_always_scoped_to_prefixes(templates: dict[str, dict[str, Any]]) -> None:
    listers = 0
    for role, statements in _roles_statements(templates[PIPELINE_STACK]).items():
        for statement in statements:
            resources = dumps(statement["Resource"])
            if "s3:ListBucket" in _listed(statement["Action"]) and "UploadsBucketArn" in resources:
                listers += 1
                prefixes = statement["Condition"]["StringLike"]["s3:prefix"]
                assert set(_listed(prefixes)) <= {"uploads/*", "work/*"}, role
    assert listers >= 7  # probe, encode, thumbnails, package, scheduler, API, the state machine


def test_a_listing_statement_needs_real_prefixes() -> None:
    statement = listing_statement("arn:aws:s3:::b", "uploads/", "work/").to_json()
    assert statement["Condition"] == {"StringLike": {"s3:prefix": ["uploads/*", "work/*"]}}
    with pytest.raises(ValueError, match="end with"):
        listing_statement("arn:aws:s3:::b", "uploads")
    with pytest.raises(ValueError, match="end with"):
        listing_statement("arn:aws:s3:::b")
