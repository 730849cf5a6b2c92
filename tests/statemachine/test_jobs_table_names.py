"""The ASL spells jobs-table names literally in its direct DynamoDB writes: they must be `lambdas.jobs.schema`'s."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdas.jobs import schema
from lambdas.jobs.model import Job, JobStatus

# Read directly: importing the CDK construct that names them costs seconds.
DEFINITIONS = sorted((Path(__file__).resolve().parents[2] / "statemachines").glob("*.asl.json"))
# Attributes of the job item that are not Job fields: the schema's own.
SCHEMA_ATTRIBUTES = {
    *schema.KEY_ATTRIBUTES,
    schema.TTL_ATTRIBUTE,
    schema.ERROR_CAUSE_ATTRIBUTE,
}


def _states(machine: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in machine["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        if "ItemProcessor" in state:
            yield from _states(state["ItemProcessor"])


def _dynamodb_tasks() -> list[tuple[str, dict[str, Any]]]:
    tasks = []
    for definition in DEFINITIONS:
        # Placeholders stand where numbers go too: any number keeps the JSON valid.
        machine = json.loads(re.sub(r"\$\{\w+\}", "1", definition.read_text()))
        tasks += [
            (f"{definition.name}:{name}", state["Parameters"])
            for name, state in _states(machine)
            if str(state.get("Resource", "")).startswith("arn:aws:states:::dynamodb:")
        ]
    return tasks


TASKS = _dynamodb_tasks()


def _written(params: dict[str, Any]) -> set[str]:
    """The attribute names an UpdateExpression writes (SET, REMOVE, ADD, DELETE), #aliases resolved."""
    names = params.get("ExpressionAttributeNames", {})
    written: set[str] = set()
    for action, clause in re.findall(
        r"\b(SET|REMOVE|ADD|DELETE)\s+(.*?)(?=\s+(?:SET|REMOVE|ADD|DELETE)\s|$)", params["UpdateExpression"]
    ):
        for part in clause.split(","):
            target = part.split("=")[0] if action == "SET" else part.split()[0]
            written.add(names.get(target.strip(), target.strip()))
    return written


def test_the_workflows_write_the_schemas_own_attributes() -> None:
    # MarkRegistrationFailed, MarkItemFailed, MarkFailed: if they go, this test has nothing left to hold.
    assert len(TASKS) >= 3
    written = set().union(*(_written(params) for _, params in TASKS))
    assert {schema.ERROR_CAUSE_ATTRIBUTE, schema.TTL_ATTRIBUTE, schema.BY_STATUS.partition_key} <= written


@pytest.mark.parametrize(("task", "params"), TASKS, ids=[task for task, _ in TASKS])
def test_the_key_is_the_job_items(task: str, params: dict[str, Any]) -> None:
    key = params["Key"]
    assert set(key) == {schema.PARTITION_KEY, schema.SORT_KEY}
    assert key[schema.SORT_KEY] == {"S": schema.JOB_SK}
    assert key[schema.PARTITION_KEY]["S.$"].startswith(f"States.Format('{schema.job_pk('{}')}', ")


@pytest.mark.parametrize(("task", "params"), TASKS, ids=[task for task, _ in TASKS])
def test_every_written_attribute_is_a_job_field_or_the_schemas(task: str, params: dict[str, Any]) -> None:
    written = _written(params)
    assert written, task
    assert written <= set(Job.model_fields) | SCHEMA_ATTRIBUTES, task


@pytest.mark.parametrize(("task", "params"), TASKS, ids=[task for task, _ in TASKS])
def test_a_status_change_moves_the_job_in_the_status_index(task: str, params: dict[str, Any]) -> None:
    names, values = params.get("ExpressionAttributeNames", {}), params["ExpressionAttributeValues"]
    assigned = {
        names.get(target, target): value
        for target, value in re.findall(r"(#?\w+) = (:\w+)", params["UpdateExpression"])
    }
    if "status" not in assigned:
        return
    status = JobStatus(values[assigned["status"]]["S"])
    assert values[assigned[schema.BY_STATUS.partition_key]] == {"S": schema.status_pk(status)}
    # The index's sort key holds priority, creation time and id only: a status change need not rewrite it.
    assert schema.BY_STATUS.sort_key not in assigned
