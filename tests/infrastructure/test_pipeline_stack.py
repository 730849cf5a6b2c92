"""Functions, workflow, API: targeted assertions on the synthesized pipeline stack."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from tests.conftest import dumps, resources_of

HANDLERS = {
    "register_job",
    "probe_source",
    "transcode_rendition",
    "make_thumbnails",
    "package_outputs",
    "publish_job",
    "jobs_api",
    "authorize",
}
MEDIA = {"probe_source", "transcode_rendition", "make_thumbnails", "package_outputs"}


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f["Properties"]["Handler"].split(".")[2]: f["Properties"]
        for f in resources_of(template, "AWS::Lambda::Function").values()
    }


def test_every_function_shares_the_defaults(templates: dict[str, dict[str, Any]]) -> None:
    functions = _functions(templates["VodpipePipeline"])
    assert set(functions) == HANDLERS
    codes = {dumps(f["Code"]) for f in functions.values()}
    assert len(codes) == 1, "all functions share one code asset"
    for name, props in functions.items():
        assert props["Runtime"] == "python3.13", name
        assert props["Handler"] == f"lambdas.handlers.{name}.handler"
        assert props["LoggingConfig"]["LogFormat"] == "JSON", name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        env = props["Environment"]["Variables"]
        assert {"JOBS_TABLE", "UPLOADS_BUCKET", "OUTPUTS_BUCKET", "POWERTOOLS_SERVICE_NAME"} <= set(env), name
        assert env["POWERTOOLS_SERVICE_NAME"] == name
        assert "LogGroup" in props["LoggingConfig"], f"{name} needs an explicit log group (retention)"


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_media_functions_get_ffmpeg_memory_and_disk(templates: dict[str, dict[str, Any]], name: str) -> None:
    props = _functions(templates["VodpipePipeline"])[name]
    layer_count = len(props["Layers"])
    if name in MEDIA:
        assert layer_count == 2, "dependencies + ffmpeg"
        assert props["EphemeralStorage"]["Size"] >= 2048
        assert props["Timeout"] >= 120
        assert props["MemorySize"] >= 1024
    else:
        assert layer_count == 1, "dependencies only"
        assert props["Timeout"] <= 30
        assert props["MemorySize"] <= 512


def test_ffmpeg_layer_records_its_licence(pipeline: Template) -> None:
    pipeline.has_resource_properties(
        "AWS::Lambda::LayerVersion",
        {
            "LicenseInfo": "GPL-3.0-or-later",
            "CompatibleRuntimes": ["python3.13"],
            "Description": Match.string_like_regexp("ffmpeg"),
        },
    )


def test_state_machines_log_everything_and_trace(pipeline: Template) -> None:
    pipeline.resource_count_is("AWS::StepFunctions::StateMachine", 2)  # transcode and its dispatcher
    pipeline.all_resources_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": True}),
            "StateMachineType": "STANDARD",
        },
    )


def test_object_created_in_uploads_starts_the_workflow(
    pipeline: Template, templates: dict[str, dict[str, Any]]
) -> None:
    (rule,) = resources_of(templates["VodpipePipeline"], "AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.s3"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["object"] == {"key": [{"prefix": "uploads/"}]}
    (target,) = rule["Properties"]["Targets"]
    assert "InputTransformer" not in target, "LocalStack fails InputTransformers; RegisterJob reshapes the event"
    assert "DeadLetterConfig" in target
    # Through the dispatcher, which names the execution after the object.
    assert target["Arn"]["Ref"].startswith("WorkflowDispatcher")


def test_api_is_rest_v1_with_a_token_authorizer(pipeline: Template) -> None:
    pipeline.resource_count_is("AWS::ApiGateway::RestApi", 1)
    pipeline.has_resource_properties("AWS::ApiGateway::Authorizer", {"Type": "TOKEN"})
    pipeline.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {"StageName": "v1", "TracingEnabled": True, "AccessLogSetting": Match.any_value()},
    )
    pipeline.has_resource_properties("AWS::ApiGateway::Method", {"HttpMethod": "ANY", "AuthorizationType": "CUSTOM"})


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for policy in resources_of(template, "AWS::IAM::Policy").values():
        out.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return out


def test_no_wildcard_actions_on_buckets_or_table(templates: dict[str, dict[str, Any]]) -> None:
    for stmt in _statements(templates["VodpipePipeline"]):
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        for action in actions:
            service, _, verb = action.partition(":")
            if service in {"s3", "dynamodb"}:
                assert "*" not in verb, f"wildcard action {action}"


def test_workers_never_delete_sources_and_only_touch_their_prefixes(templates: dict[str, dict[str, Any]]) -> None:
    roles = resources_of(templates["VodpipePipeline"], "AWS::IAM::Policy")
    for logical_id, policy in roles.items():
        if "JobsApi" in logical_id:
            continue
        for stmt in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
            data_actions = [a for a in actions if a.split(":")[0] in {"s3", "dynamodb"}]
            resource = dumps(stmt["Resource"])
            if any("Delete" in a for a in data_actions):
                # Only a cancelled step withdrawing its own outputs; uploads are kept whatever happens.
                assert [a for a in data_actions if "Delete" in a] == ["s3:DeleteObject"], logical_id
                assert "/outputs/*" in resource, logical_id
                assert "/uploads/" not in resource, logical_id
            if any(a.startswith("s3:") and a != "s3:ListBucket" for a in actions):
                assert any(p in resource for p in ("/uploads/*", "/outputs/*")), logical_id


def _grants(template: dict[str, Any], function_id: str) -> dict[str, set[str]]:
    """Data-plane actions (s3, dynamodb, states) a function's role allows, by resource."""
    grants: dict[str, set[str]] = {}
    for logical_id, policy in resources_of(template, "AWS::IAM::Policy").items():
        if not logical_id.startswith(function_id):
            continue
        for stmt in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
            resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
            for resource in resources:
                kept = {a for a in actions if a.split(":")[0] in {"s3", "dynamodb", "states"}}
                if kept:
                    grants.setdefault(dumps(resource), set()).update(kept)
    return grants


def test_the_api_may_make_exactly_the_calls_it_makes(templates: dict[str, dict[str, Any]]) -> None:
    grants = _grants(templates["VodpipePipeline"], "FunctionsJobsApi")
    assert grants, "no policy found for the API function"

    def on(fragment: str) -> set[str]:
        return set().union(*(actions for resource, actions in grants.items() if fragment in resource))

    assert on("/index/*") == {"dynamodb:Query"}  # listings and statistics only: no writes through an index
    assert on("/uploads/*") == {"s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}
    assert on("/outputs/*") == {"s3:DeleteObject"}  # cancel removes partial outputs; nothing is read
    every = set().union(*grants.values())
    assert every <= {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
        "s3:DeleteObject",
        "s3:ListBucket",
        "states:StartExecution",
        "states:StopExecution",
    }, every
