"""The transcode workflow definition: structure, error handling, placeholders."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stacks.constructs.transcode_workflow import DEFINITION, DISPATCH_DEFINITION
from tests.conftest import resources_of

DEFINITIONS = {"transcode": DEFINITION, "dispatch": DISPATCH_DEFINITION}

TRANSIENT = {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.TooManyRequestsException"}
BAD_INPUT = {"UnsupportedInput", "NoVideoStream", "SourceUnreadable", "PolicyViolation"}


def load(substitutions: dict[str, str] | None = None, definition: Path = DEFINITION) -> dict[str, Any]:
    text = definition.read_text()
    placeholders = set(re.findall(r"\$\{(\w+)\}", text))
    values = substitutions or {p: "1" if p == "TranscodeConcurrency" else f"arn:{p}" for p in placeholders}
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return json.loads(text)


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


def test_failures_end_in_mark_failed(machine: dict[str, Any]) -> None:
    top = machine["States"]
    for name in ("ProbeSource", "Encode", "Package", "Publish"):
        assert any(c["Next"] == "MarkFailed" for c in top[name]["Catch"]), name
    assert top["MarkFailed"]["Resource"] == "arn:aws:states:::dynamodb:updateItem"
    assert top["MarkFailed"]["Next"] == "JobFailed"
    assert top["JobFailed"]["Type"] == "Fail"


def test_renditions_fan_out_with_bounded_concurrency(machine: dict[str, Any]) -> None:
    (transcode,) = [s for _, n, s, _ in walk(machine) if n == "TranscodeRenditions"]
    assert transcode["Type"] == "Map"
    assert transcode["MaxConcurrency"] == 1  # substituted value in this test
    branches = machine["States"]["Encode"]["Branches"]
    assert [b["StartAt"] for b in branches] == ["TranscodeRenditions", "MakeThumbnails"]


def test_placeholders_match_the_construct_substitutions(templates: dict[str, dict[str, Any]]) -> None:
    machines = resources_of(templates["VodpipePipeline"], "AWS::StepFunctions::StateMachine").values()
    substituted = sorted(sorted(sm["Properties"]["DefinitionSubstitutions"]) for sm in machines)
    placeholders = sorted(sorted(set(re.findall(r"\$\{(\w+)\}", d.read_text()))) for d in DEFINITIONS.values())
    assert substituted == placeholders


def test_dispatch_names_each_execution_after_its_object() -> None:
    start = load(definition=DISPATCH_DEFINITION)["States"]["StartTranscode"]
    assert start["Resource"] == "arn:aws:states:::states:startExecution"  # fire and forget, no .sync
    assert "$.detail.object.key" in start["Parameters"]["Name.$"]
    assert "$.detail.object.sequencer" in start["Parameters"]["Name.$"]
    (already,) = [c for c in start["Catch"] if c["Next"] == "AlreadyStarted"]
    assert already["ErrorEquals"] == ["StepFunctions.ExecutionAlreadyExistsException"]


def test_no_jsonata_anywhere(any_machine: dict[str, Any]) -> None:
    # JSONata needs a download LocalStack cannot do offline.
    assert any_machine.get("QueryLanguage", "JSONPath") == "JSONPath"
    for _, name, state, _ in walk(any_machine):
        assert state.get("QueryLanguage", "JSONPath") == "JSONPath", name
