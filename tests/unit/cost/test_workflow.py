"""The transition count of lambdas/cost/workflow.py against the state machine's own happy path."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lambdas.cost.workflow import CHILD_LAMBDA_STATES, FUNCTIONS, LAMBDA_STATES, OTHER_STATES, state_transitions

ASL = Path(__file__).resolve().parents[3] / "statemachines" / "transcode.asl.json"
LAMBDA = "arn:aws:states:::lambda:invoke"


def definition() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(re.sub(r"\$\{\w+\}", "0", ASL.read_text()))
    return document


def happy_path(machine: dict[str, Any], children: list[str]) -> list[str]:
    """Every state one successful run enters: Next after Next; branches in order; a Map's children set aside."""
    entered: list[str] = []
    name: str | None = machine["StartAt"]
    while name is not None:
        state = machine["States"][name]
        entered.append(name)
        for branch in state.get("Branches", ()):
            entered += happy_path(branch, children)
        if state["Type"] == "Map":
            children += happy_path(state["ItemProcessor"], [])
        name = state.get("Next")
    return entered


def test_the_counted_states_are_the_happy_path_of_the_definition() -> None:
    machine = definition()
    children: list[str] = []
    parent = happy_path(machine, children)

    def states(names: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}

        def walk(level: dict[str, Any]) -> None:
            for name, state in level["States"].items():
                found[name] = state
                for branch in state.get("Branches", ()):
                    walk(branch)
                if "ItemProcessor" in state:
                    walk(state["ItemProcessor"])

        walk(machine)
        return {name: found[name] for name in names}

    lambdas = [name for name, state in states(parent).items() if state.get("Resource") == LAMBDA]
    assert sorted(lambdas) == sorted(LAMBDA_STATES)
    assert sorted(set(parent) - set(lambdas)) == sorted(OTHER_STATES)
    assert [name for name, state in states(children).items() if state.get("Resource") == LAMBDA] == list(
        CHILD_LAMBDA_STATES
    )
    assert children == list(CHILD_LAMBDA_STATES)  # a child enters nothing else when it succeeds
    assert sorted(FUNCTIONS) == sorted({*LAMBDA_STATES.values(), *CHILD_LAMBDA_STATES.values()})
    # One item, every Lambda once: the parent's states and one child's.
    assert state_transitions(len(LAMBDA_STATES) + 1) == len(parent) + len(children)
