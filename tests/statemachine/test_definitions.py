"""The workflow definitions: structure, error handling, the Distributed Map, payloads, placeholders."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from lambdas.events import FINISHED, WORKFLOW_SOURCE, JobAdmitted
from lambdas.jobs.model import Job, Source, new_job_id, utc_now
from lambdas.media import errors as media_errors
from lambdas.pipeline import errors as pipeline_errors
from lambdas.pipeline.encode import EncodeRequest, EncodeResult
from lambdas.pipeline.package import PackageRequest
from lambdas.pipeline.probe import PlanRef, ProbeRequest, ProbeResult
from lambdas.pipeline.publish import PublishRequest
from lambdas.pipeline.register import RegisterRequest
from lambdas.pipeline.thumbnails import ThumbnailsRequest, ThumbnailsResult
from stacks.constructs.transcode_workflow import DEFINITION
from tests.conftest import resources_of
from tests.unit.pipeline.conftest import UPLOADS, upload_key

DEFINITIONS = {"transcode": DEFINITION}

TRANSIENT = {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.TooManyRequestsException"}
BAD_INPUT = {"UnsupportedInput", "NoVideoStream", "SourceUnreadable", "PolicyViolation"}
# Errors AWS raises; every other name in a Retry or Catch must be one of our exception classes.
AWS_ERRORS = ("States.", "Lambda.", "DynamoDB.", "StepFunctions.", "Sandbox.", "Runtime.")
# What each function parses its payload into (lambdas/handlers/*), by the ARN `load` substitutes.
REQUESTS: dict[str, type[BaseModel]] = {
    "arn:RegisterJobFunction": RegisterRequest,
    "arn:ProbeSourceFunction": ProbeRequest,
    "arn:EncodeChunkFunction": EncodeRequest,
    "arn:MakeThumbnailsFunction": ThumbnailsRequest,
    "arn:PackageOutputsFunction": PackageRequest,
    "arn:PublishJobFunction": PublishRequest,
}


def load(substitutions: dict[str, str] | None = None, definition: Path = DEFINITION) -> dict[str, Any]:
    text = definition.read_text()
    placeholders = set(re.findall(r"\$\{(\w+)\}", text))
    values = substitutions or {p: "1" if p == "TranscodeConcurrency" else f"arn:{p}" for p in placeholders}
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def walk(machine: dict[str, Any], path: str = "") -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """Every (path, name, state, enclosing states) in the machine, nested Map/Parallel included."""
    for name, state in machine["States"].items():
        yield path, name, state, machine["States"]
        for i, branch in enumerate(state.get("Branches", [])):
            yield from walk(branch, f"{path}{name}[{i}]/")
        if "ItemProcessor" in state:
            yield from walk(state["ItemProcessor"], f"{path}{name}/")


@pytest.fixture(scope="module")
def machine() -> dict[str, Any]:
    return load()


@pytest.fixture(params=sorted(DEFINITIONS), scope="module")
def any_machine(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(definition=DEFINITIONS[request.param])


def test_every_transition_resolves_within_its_scope(any_machine: dict[str, Any]) -> None:
    for path, name, state, scope in walk(any_machine):
        targets = [state.get("Next"), state.get("Default")]
        targets += [c["Next"] for c in state.get("Choices", [])]
        targets += [c["Next"] for c in state.get("Catch", [])]
        for target in filter(None, targets):
            assert target in scope, f"{path}{name} -> {target} does not exist"
        terminal = state["Type"] in {"Succeed", "Fail"} or state.get("End")
        assert terminal or "Next" in state or state["Type"] == "Choice", f"{path}{name} leads nowhere"


def test_every_state_is_reachable(any_machine: dict[str, Any]) -> None:
    def check(sub: dict[str, Any], path: str) -> None:
        seen, todo = set(), [sub["StartAt"]]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            state = sub["States"][name]
            todo += [t for t in (state.get("Next"), state.get("Default")) if t]
            todo += [c["Next"] for c in state.get("Catch", []) + state.get("Choices", [])]
            for i, branch in enumerate(state.get("Branches", [])):
                check(branch, f"{path}{name}[{i}]/")
            if "ItemProcessor" in state:
                check(state["ItemProcessor"], f"{path}{name}/")
        assert seen == set(sub["States"]), f"unreachable in {path or 'top'}: {set(sub['States']) - seen}"

    check(any_machine, "")


def test_every_task_retries_transient_errors_and_catches(any_machine: dict[str, Any]) -> None:
    tasks = [(p + n, s) for p, n, s, _ in walk(any_machine) if s["Type"] == "Task"]
    assert tasks
    for name, task in tasks:
        assert task.get("Retry"), f"{name} has no Retry"
        assert task.get("Catch"), f"{name} has no Catch"
        assert any(c["ErrorEquals"] == ["States.ALL"] for c in task["Catch"]), f"{name} misses errors"
        for retry in task["Retry"]:
            assert retry.get("JitterStrategy") == "FULL", f"{name}: retries need jitter"
            assert retry.get("BackoffRate", 1) > 1, f"{name}: retries need backoff"
            # Bad input is final: retrying a corrupt upload only burns money.
            assert not BAD_INPUT & set(retry["ErrorEquals"]), f"{name} retries bad input"
            assert "States.ALL" not in retry["ErrorEquals"], f"{name} retries everything"
        if task["Resource"] == "arn:aws:states:::lambda:invoke":
            retried = set().union(*(r["ErrorEquals"] for r in task["Retry"]))
            assert retried >= TRANSIENT, f"{name} does not retry Lambda's transient errors"


def states(machine: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state by name, nested ones included (names are unique across the whole machine)."""
    found = {name: state for _, name, state, _ in walk(machine)}
    assert len(found) == sum(1 for _ in walk(machine)), "a state name is used twice"
    return found


def test_the_walk_reaches_into_the_distributed_map(machine: dict[str, Any]) -> None:
    paths = {f"{path}{name}" for path, name, _, _ in walk(machine)}
    assert {
        "Encode[0]/EncodeChunks/EncodeChunk",
        "Encode[0]/EncodeChunks/MarkItemFailed",
        "Encode[0]/EncodeChunks/ItemFailed",
        "Encode[1]/MakeThumbnails",
    } <= paths


def test_failures_end_in_mark_failed(machine: dict[str, Any]) -> None:
    top = machine["States"]
    for name in ("ProbeSource", "Encode", "Package", "Publish"):
        assert any(c["Next"] == "MarkFailed" for c in top[name]["Catch"]), name
    assert top["MarkFailed"]["Resource"] == "arn:aws:states:::dynamodb:updateItem"
    assert top[top["MarkFailed"]["Next"]]["Next"] == "JobFailed"  # through ReleaseFailed
    assert [c["Next"] for c in top["MarkFailed"]["Catch"]] == ["ReleaseFailed"]  # even when the table is unreachable
    assert top["JobFailed"]["Type"] == "Fail"


def test_a_failed_work_item_marks_the_job_failed_with_its_own_error(machine: dict[str, Any]) -> None:
    every = states(machine)
    (catch,) = every["EncodeChunk"]["Catch"]
    assert (catch["ErrorEquals"], catch["Next"], catch["ResultPath"]) == (["States.ALL"], "MarkItemFailed", "$.error")
    mark, top = every["MarkItemFailed"], machine["States"]["MarkFailed"]
    assert mark["Resource"] == "arn:aws:states:::dynamodb:updateItem"
    # The same conditional update as MarkFailed: a cancelled or finished job is left as it is.
    assert mark["Parameters"] == top["Parameters"]
    assert mark["Next"] == "ItemFailed"
    assert [(c["Next"], c["ResultPath"]) for c in mark["Catch"]] == [("ItemFailed", "$.markError")]
    failed = every["ItemFailed"]
    # A fixed name: LocalStack refuses a Fail state raising a States.* name (an item that timed out), and the
    # item's own error is on the job already.
    assert (failed["Type"], failed["Error"], failed["CausePath"]) == ("Fail", "WorkItemFailed", "$.error.Cause")
    # Nothing is selected from the item's result: an uncatchable States.Runtime would skip MarkItemFailed.
    encode = every["EncodeChunk"]
    assert "ResultSelector" not in encode
    assert (encode["ResultPath"], encode["OutputPath"]) == (None, "$.item_id")
    # One failed item fails the Map, so the Encode branch; its Catch then finds the job FAILED already.
    assert not {"ToleratedFailurePercentage", "ToleratedFailureCount"} & set(every["EncodeChunks"])
    assert any(c["Next"] == "MarkFailed" for c in machine["States"]["Encode"]["Catch"])


def test_failed_thumbnails_become_a_warning_not_a_failed_job(machine: dict[str, Any]) -> None:
    every = states(machine)
    assert [c["Next"] for c in every["MakeThumbnails"]["Catch"]] == ["ThumbnailsSkipped"]
    skipped = every["ThumbnailsSkipped"]
    assert (skipped["Type"], skipped.get("End")) == ("Pass", True)
    # What a Lambda Catch hands on: the error name and its Cause (the Lambda's JSON error document).
    caught = {
        "Error": "TranscodeFailed",
        "Cause": json.dumps({"errorMessage": "Making thumbnails: Processing the video failed.", "errorType": "X"}),
    }
    output = {
        key.removesuffix(".$"): (
            {k.removesuffix(".$"): caught[v.removeprefix("$.")] for k, v in value.items()}
            if isinstance(value, dict)
            else value
        )
        for key, value in skipped["Parameters"].items()
    }
    result = ThumbnailsResult.model_validate(output)  # the shape PackageOutputs reads as `thumbnails`
    assert not result.enabled
    assert not result.files
    assert result.all_warnings == (
        "Thumbnails, stills and storyboard are missing: Making thumbnails: Processing the video failed.",
    )


def test_work_items_fan_out_as_a_distributed_map_with_bounded_concurrency(machine: dict[str, Any]) -> None:
    branches = machine["States"]["Encode"]["Branches"]
    assert [b["StartAt"] for b in branches] == ["EncodeChunks", "MakeThumbnails"]
    encode_chunks = branches[0]["States"]["EncodeChunks"]
    assert encode_chunks["Type"] == "Map"
    assert encode_chunks["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert encode_chunks["MaxConcurrency"] == 1  # substituted value in this test
    assert encode_chunks["ItemProcessor"]["StartAt"] == "EncodeChunk"
    # The items are read from S3 (no payload limit on how many), from the file ProbeSource wrote.
    reader = encode_chunks["ItemReader"]
    assert reader["Resource"] == "arn:aws:states:::s3:getObject"
    assert reader["ReaderConfig"] == {"InputType": "JSON"}
    assert reader["Parameters"] == {"Bucket.$": "$.plan.work.bucket", "Key.$": "$.plan.work.items_key"}
    assert "ItemsPath" not in encode_chunks
    probe = machine["States"]["ProbeSource"]
    assert (probe["ResultPath"], probe["ResultSelector"]["work.$"]) == ("$.plan", "$.Payload.plan")
    assert {"bucket", "key", "items_key"} <= set(PlanRef.model_fields)
    assert {path.removeprefix("$.Payload.") for path in probe["ResultSelector"].values()} == set(
        ProbeResult.model_fields
    )


def test_each_item_names_its_work_and_carries_what_its_failure_needs(machine: dict[str, Any]) -> None:
    every = states(machine)
    selector = every["EncodeChunks"]["ItemSelector"]
    assert selector["item_id.$"] == "$$.Map.Item.Value.item_id"  # items.json is [{"item_id": ...}, ...]
    assert "expires_at.$" in selector  # MarkItemFailed sets the job's TTL from it
    encode = every["EncodeChunk"]
    assert encode["Parameters"]["Payload.$"] == "$"  # the selected item, as it is
    assert encode["OutputPath"].removeprefix("$.") in EncodeResult.model_fields  # the id, taken from the item


def test_encode_retries_what_another_attempt_can_cure_and_nothing_else(machine: dict[str, Any]) -> None:
    throttled, retry = states(machine)["EncodeChunk"]["Retry"]
    retried = set(retry["ErrorEquals"]) | set(throttled["ErrorEquals"])
    # A worker killed from outside (out of memory, a host going away) or a timed-out sandbox: worth another try.
    assert {"Sandbox.Timedout", "EncoderKilled", "TransientError"} | TRANSIENT <= retried
    assert "TranscodeFailed" not in retried  # an encoder error on a valid source fails the same way again
    assert retry["MaxAttempts"] >= 2
    # A wide fan-out meets the account's concurrency limit: throttled invokes wait longer (about a minute).
    assert throttled["ErrorEquals"] == ["Lambda.TooManyRequestsException"]
    waits = [throttled["IntervalSeconds"] * throttled["BackoffRate"] ** n for n in range(throttled["MaxAttempts"])]
    assert sum(waits) >= 60


def test_every_error_name_is_one_of_ours_or_aws(any_machine: dict[str, Any]) -> None:
    ours = {
        name
        for module in (media_errors, pipeline_errors)
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, Exception)
    }
    for path, name, state, _ in walk(any_machine):
        for rule in state.get("Retry", []) + state.get("Catch", []):
            for error in rule["ErrorEquals"]:
                assert error.startswith(AWS_ERRORS) or error in ours, f"{path}{name}: unknown error {error}"


def test_every_lambda_payload_is_what_its_function_parses(machine: dict[str, Any]) -> None:
    every = states(machine)
    invoked = set()
    for name, state in every.items():
        if state.get("Resource") != "arn:aws:states:::lambda:invoke":
            continue
        function = state["Parameters"]["FunctionName"]
        model = REQUESTS[function]
        invoked.add(function)
        payload = state["Parameters"].get("Payload") or every["EncodeChunks"]["ItemSelector"]
        sent = {key.removesuffix(".$") for key in payload}
        required = {field for field, info in model.model_fields.items() if info.is_required()}
        assert required <= sent, f"{name} does not send {required - sent}"
        assert sent - set(model.model_fields) <= {"expires_at"}, f"{name} sends what {model.__name__} never reads"
    assert invoked == set(REQUESTS)


def test_placeholders_match_the_construct_substitutions(templates: dict[str, dict[str, Any]]) -> None:
    machines = resources_of(templates["VodpipePipeline"], "AWS::StepFunctions::StateMachine").values()
    substituted = sorted(sorted(sm["Properties"]["DefinitionSubstitutions"]) for sm in machines)
    placeholders = sorted(sorted(set(re.findall(r"\$\{(\w+)\}", d.read_text()))) for d in DEFINITIONS.values())
    assert substituted == placeholders
    assert any("EncodeChunkFunction" in p for p in placeholders)
    assert not any("TranscodeRenditionFunction" in p for p in placeholders)
    # Each ${NameFunction} is the ARN of the function of that name, not of a neighbour.
    functions = resources_of(templates["VodpipePipeline"], "AWS::Lambda::Function")
    for sm in machines:
        for placeholder, value in sm["Properties"]["DefinitionSubstitutions"].items():
            if placeholder.endswith("Function"):
                logical_id, attribute = value["Fn::GetAtt"]
                assert attribute == "Arn"
                assert logical_id in functions
                assert logical_id.startswith("Functions" + placeholder.removesuffix("Function")), placeholder


def test_the_map_concurrency_is_the_deployments_bound(templates: dict[str, dict[str, Any]]) -> None:
    machines = resources_of(templates["VodpipePipeline"], "AWS::StepFunctions::StateMachine").values()
    (concurrency,) = [
        sm["Properties"]["DefinitionSubstitutions"]["TranscodeConcurrency"]
        for sm in machines
        if "TranscodeConcurrency" in sm["Properties"]["DefinitionSubstitutions"]
    ]
    assert concurrency == "4"  # cdk.json's transcode_concurrency: a plain number, never unbounded


def test_a_failed_registration_finds_its_job_in_the_admission(machine: dict[str, Any]) -> None:
    # MarkRegistrationFailed reads the job id out of the scheduler's event, and fails only this execution's job.
    mark = machine["States"]["MarkRegistrationFailed"]["Parameters"]
    assert mark["Key"]["pk"]["S.$"] == "States.Format('JOB#{}', $.detail.job_id)"
    assert "execution_arn = :execution" in mark["ConditionExpression"]
    assert mark["ExpressionAttributeValues"][":execution"] == {"S.$": "$$.Execution.Id"}
    job_id = new_job_id()
    job = Job.new(
        job_id=job_id,
        owner="alice",
        source=Source(bucket=UPLOADS, key=upload_key(job_id)),
        requested_renditions=("240p",),
        now=utc_now(),
    )
    assert JobAdmitted.of(job).payload()["detail"]["job_id"] == job_id


def test_every_end_tells_the_scheduler(machine: dict[str, Any]) -> None:
    """Completed, failed (any step, a work item, registration): each path puts `Job Finished` before it ends,
    so the job's slot goes to the next job; only a stale start (AlreadyRegistered) has no slot to give back."""
    every = states(machine)
    top = machine["States"]
    notifiers = {name for name, s in top.items() if s.get("Resource") == "arn:aws:states:::events:putEvents"}
    for name in notifiers:
        (entry,) = top[name]["Parameters"]["Entries"]
        assert (entry["Source"], entry["DetailType"]) == (WORKFLOW_SOURCE, FINISHED)
        assert entry["EventBusName"] == "arn:EventBus"
    ends = {name for name, s in top.items() if s["Type"] in {"Succeed", "Fail"} and name != "AlreadyRegistered"}
    reaching = {top[n]["Next"] for n in notifiers}
    assert ends == reaching, f"ends not announced: {ends - reaching}"
    for name in ("MarkFailed", "MarkRegistrationFailed"):
        assert every[name]["Next"] in notifiers
        assert {c["Next"] for c in every[name]["Catch"]} <= notifiers
    assert every["Publish"]["Next"] in notifiers


def test_no_jsonata_anywhere(any_machine: dict[str, Any]) -> None:
    # JSONata needs a download LocalStack cannot do offline.
    assert any_machine.get("QueryLanguage", "JSONPath") == "JSONPath"
    for _, name, state, _ in walk(any_machine):
        assert state.get("QueryLanguage", "JSONPath") == "JSONPath", name
