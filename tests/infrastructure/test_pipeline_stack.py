"""Functions, workflow, API: targeted assertions on the synthesized pipeline stack."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from lambdas.handlers import _wiring
from lambdas.settings import get_settings
from tests.conftest import dumps, resources_of

HANDLERS = {
    "register_job",
    "probe_source",
    "encode_chunk",
    "make_thumbnails",
    "package_outputs",
    "publish_job",
    "jobs_api",
    "authorize",
    "schedule_jobs",
    "publish_events",
    "route_webhooks",
    "deliver_webhooks",
    "email_owner",
}
EVENT_HANDLERS = {"publish_events", "route_webhooks", "deliver_webhooks", "email_owner"}
MEDIA = {"probe_source", "encode_chunk", "make_thumbnails", "package_outputs"}


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
    pipeline.resource_count_is("AWS::StepFunctions::StateMachine", 1)  # transcode; the scheduler starts it
    pipeline.all_resources_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": True}),
            "StateMachineType": "STANDARD",
        },
    )


def _rules(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: r["Properties"] for k, r in resources_of(template, "AWS::Events::Rule").items()}


def test_the_scheduler_wakes_on_uploads_on_job_signals_and_on_a_tick(templates: dict[str, dict[str, Any]]) -> None:
    # The scheduler's rules are the default bus's; the job event feed's are on the deployment's own bus.
    rules = {
        k: r for k, r in _rules(templates["VodpipePipeline"]).items() if r.get("EventBusName") in (None, "default")
    }
    assert len(rules) == 3
    by_kind = {
        ("upload" if "EventPattern" in r and r["EventPattern"]["source"] == ["aws.s3"] else
         "signals" if "EventPattern" in r else "tick"): r
        for r in rules.values()
    }  # fmt: skip
    upload = by_kind["upload"]["EventPattern"]
    assert upload["detail-type"] == ["Object Created"]
    assert upload["detail"]["object"] == {"key": [{"prefix": "uploads/"}]}
    signals = by_kind["signals"]["EventPattern"]
    assert set(signals["source"]) == {"vodpipe.api", "vodpipe.workflow"}
    assert set(signals["detail-type"]) == {"Job Queued", "Job Finished"}
    assert by_kind["tick"]["ScheduleExpression"] == "rate(1 minute)"
    for rule in rules.values():
        (target,) = rule["Targets"]
        assert "InputTransformer" not in target, "LocalStack fails InputTransformers; the handler parses each event"
        assert "DeadLetterConfig" in target
        assert target["Arn"]["Fn::GetAtt"][0].startswith("FunctionsScheduleJobs")


def test_the_scheduler_may_admit_start_and_repair_and_nothing_else(templates: dict[str, dict[str, Any]]) -> None:
    grants = _grants_by_place(templates["VodpipePipeline"], "FunctionsScheduleJobs")
    assert grants.pop("table") == JOB_ITEMS
    assert grants.pop("index/*") == {"dynamodb:Query"}
    assert grants.pop("uploads/*") == {"s3:GetObject", "s3:AbortMultipartUpload"}  # metadata; expired uploads
    assert grants.pop("uploads bucket") == {"s3:ListBucket"}  # under uploads/ only (test_s3_listing.py)
    assert {frozenset(actions) for actions in grants.values()} == {
        frozenset({"states:StartExecution"}),
        frozenset({"states:DescribeExecution"}),
    }


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
                # Our own outputs and intermediate work only; uploads are kept whatever happens.
                assert [a for a in data_actions if "Delete" in a] == ["s3:DeleteObject"], logical_id
                assert "/outputs/*" in resource or "/private/*" in resource or "/work/*" in resource, logical_id
                assert "/uploads/" not in resource, logical_id
            if any(a.startswith("s3:") and a != "s3:ListBucket" for a in actions):
                assert any(p in resource for p in ("/uploads/*", "/work/*", "/outputs/*", "/private/*")), logical_id


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

    def at(keys: str) -> set[str]:
        """Actions on exactly the keys `keys` names (the resource's JSON ends with it), not on narrower ones."""
        return set().union(*(actions for resource, actions in grants.items() if f'{keys}"' in resource))

    assert at("/uploads/*") == {"s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}
    # Captions: the owner's uploaded caption file read, then removed; the WebVTT track, its playlist and the edited
    # manifests written beside the job's stream (public or private), and removed with the caption.
    assert at("/uploads/*/captions/*") == {"s3:GetObject", "s3:DeleteObject"}
    cmaf = {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    assert at("/outputs/*/cmaf/*") == cmaf
    assert at("/private/*/cmaf/*") == cmaf
    # Cancel removes partial outputs; download links are presigned GETs, which carry the API's own permission.
    assert on("/outputs/*") >= {"s3:DeleteObject", "s3:GetObject"}
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
        "s3:GetObject",
        "s3:ListBucket",
        "states:StartExecution",
        "states:StopExecution",
    }, every


def _where(resource: str) -> str:
    """A granted resource by what it is: the table, an index, a bucket, or a key prefix of one."""
    for prefix in ("/uploads/*", "/work/*", "/outputs/*", "/private/*", "/index/*"):
        if prefix in resource:
            return prefix.strip("/")
    for name, label in (
        ("JobsTableArn", "table"),
        ("UploadsBucketArn", "uploads bucket"),
        ("OutputsBucketArn", "outputs bucket"),
    ):
        if name in resource:
            return label
    return resource


def _grants_by_place(template: dict[str, Any], function_id: str) -> dict[str, set[str]]:
    by_place: dict[str, set[str]] = {}
    for resource, actions in _grants(template, function_id).items():
        by_place.setdefault(_where(resource), set()).update(actions)
    return by_place


JOB_ITEMS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"}
OUTPUTS = {
    "outputs/*": {"s3:PutObject", "s3:GetObject", "s3:DeleteObject"},
    "private/*": {"s3:PutObject", "s3:GetObject", "s3:DeleteObject"},  # private jobs' outputs, the same steps
    "outputs bucket": {"s3:ListBucket"},
}
# Least privilege as stacks/pipeline_stack.py writes it out: sources read under uploads/, pieces, plans and
# results under work/ (in the uploads bucket), outputs under outputs/.
WORKER_GRANTS: dict[str, dict[str, set[str]]] = {
    "FunctionsRegisterJob": {"table": JOB_ITEMS},
    "FunctionsProbeSource": {
        "table": JOB_ITEMS,
        "uploads/*": {"s3:GetObject"},  # the source, downloaded once
        "work/*": {"s3:PutObject", "s3:DeleteObject"},  # pieces and the plan in; a new attempt starts clean
        "uploads bucket": {"s3:ListBucket"},  # under uploads/ (a missing source: 404) and work/ (cleared)
        **OUTPUTS,
    },
    "FunctionsEncodeChunk": {
        "table": JOB_ITEMS,
        "work/*": {"s3:GetObject", "s3:PutObject"},  # its piece and the plan in, its result out; never the source
        "uploads bucket": {"s3:ListBucket"},  # under work/ only: a missing piece answers 404
        **OUTPUTS,
    },
    "FunctionsMakeThumbnails": {
        "table": JOB_ITEMS,
        "uploads/*": {"s3:GetObject"},
        "uploads bucket": {"s3:ListBucket"},  # under uploads/ only: a missing source answers 404
        **OUTPUTS,
    },
    "FunctionsPackageOutputs": {
        "table": JOB_ITEMS,
        "work/*": {"s3:GetObject", "s3:DeleteObject"},  # the results in; the attempt's work removed
        "uploads bucket": {"s3:ListBucket"},
        **OUTPUTS,
    },
    "FunctionsPublishJob": {"table": JOB_ITEMS},
    "FunctionsAuthorizer": {"table": {"dynamodb:GetItem"}},
}


@pytest.mark.parametrize("function_id", sorted(WORKER_GRANTS))
def test_each_function_may_touch_exactly_what_it_needs(templates: dict[str, dict[str, Any]], function_id: str) -> None:
    assert _grants_by_place(templates["VodpipePipeline"], function_id) == WORKER_GRANTS[function_id]


def test_the_api_never_touches_the_work_prefix(templates: dict[str, dict[str, Any]]) -> None:
    grants = _grants_by_place(templates["VodpipePipeline"], "FunctionsJobsApi")
    assert "work/*" not in grants
    # It may list the uploads bucket under uploads/ only (a clip's parent source gone: 404, test_s3_listing.py).
    assert grants["uploads bucket"] == {"s3:ListBucket"}


def _state_machine_role(template: dict[str, Any]) -> str:
    (sm,) = [
        r
        for k, r in resources_of(template, "AWS::StepFunctions::StateMachine").items()
        if k.startswith("WorkflowStateMachine")
    ]
    ref: str = sm["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    return ref


def test_the_workflow_invokes_its_functions_updates_the_job_and_reads_the_items(
    templates: dict[str, dict[str, Any]],
) -> None:
    template = templates["VodpipePipeline"]
    role = _state_machine_role(template)
    statements = [
        stmt
        for policy in resources_of(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for stmt in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    by_action: dict[str, list[str]] = {}
    for stmt in statements:
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
        for action in actions:
            by_action.setdefault(action, []).extend(dumps(r) for r in resources)
    handlers = {
        logical_id: f["Properties"]["Handler"].split(".")[2]
        for logical_id, f in resources_of(template, "AWS::Lambda::Function").items()
    }
    invoked = {handlers[json.loads(r)["Fn::GetAtt"][0]] for r in by_action["lambda:InvokeFunction"]}
    assert invoked == HANDLERS - {"jobs_api", "authorize", "schedule_jobs"} - EVENT_HANDLERS  # the workflow's steps
    assert len(by_action["events:PutEvents"]) == 1  # `Job Finished` to the scheduler, on the default bus
    assert [_where(r) for r in by_action["dynamodb:UpdateItem"]] == ["table"]  # MarkFailed, MarkItemFailed
    assert [_where(r) for r in by_action["s3:GetObject"]] == ["work/*"]  # the Distributed Map's ItemReader
    assert [_where(r) for r in by_action["s3:ListBucket"]] == ["uploads bucket"]  # under work/ only
    assert not any(a.startswith("s3:") and a not in {"s3:GetObject", "s3:ListBucket"} for a in by_action)


def test_the_distributed_map_may_run_child_executions_of_this_state_machine_only(
    templates: dict[str, dict[str, Any]],
) -> None:
    template = templates["VodpipePipeline"]
    (policy,) = [
        p for k, p in resources_of(template, "AWS::IAM::Policy").items() if k.startswith("WorkflowChildExecutions")
    ]
    role = _state_machine_role(template)
    assert policy["Properties"]["Roles"] == [{"Ref": role}]
    start, manage = policy["Properties"]["PolicyDocument"]["Statement"]
    (machine_id,) = [
        k for k in resources_of(template, "AWS::StepFunctions::StateMachine") if k.startswith("WorkflowStateMachine")
    ]
    assert (start["Action"], start["Resource"]) == ("states:StartExecution", {"Ref": machine_id})
    assert sorted(manage["Action"]) == ["states:DescribeExecution", "states:StopExecution"]
    parts = manage["Resource"]["Fn::Join"][1]
    assert parts[-3:] == [":execution:", {"Fn::GetAtt": [machine_id, "Name"]}, "/*"]  # its map runs' children
    # A separate policy, so the state machine does not wait for a policy that names it (a dependency cycle).
    sm = resources_of(template, "AWS::StepFunctions::StateMachine")[machine_id]
    assert not any(d.startswith("WorkflowChildExecutions") for d in sm.get("DependsOn", []))


def _environment(function: dict[str, Any]) -> dict[str, str]:
    """A function's environment with CloudFormation references replaced by plausible names."""
    return {
        name: value if isinstance(value, str) else f"vodpipe-{name.lower().replace('_', '-')}"
        for name, value in function["Environment"]["Variables"].items()
    }


@pytest.mark.parametrize("handler", sorted(MEDIA))
def test_the_limits_the_stack_configures_are_the_limits_the_functions_enforce(
    templates: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, handler: str
) -> None:
    env = _environment(_functions(templates["VodpipePipeline"])[handler])
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    _wiring.pipeline_config.cache_clear()
    try:
        config = _wiring.pipeline_config()
    finally:
        get_settings.cache_clear()
        _wiring.pipeline_config.cache_clear()
    assert config.segment_seconds == float(env["HLS_SEGMENT_SECONDS"])
    assert config.transcode_concurrency == int(env["TRANSCODE_CONCURRENCY"])
    assert config.max_chunk_segments == int(env["MAX_CHUNK_SEGMENTS"])
    assert (config.worker.timeout_s, config.worker.vcpus) == (
        float(env["WORKER_TIMEOUT_S"]),
        float(env["WORKER_VCPUS"]),
    )
    # ProbeSource refuses what the deployment's budgets (disk, time: stacks/config.py) were not sized for.
    assert config.policy.max_duration_s == float(env["MAX_DURATION_S"])
    assert config.policy.max_size_bytes == int(env["MAX_UPLOAD_BYTES"])
