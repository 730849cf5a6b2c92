"""cfn-lint over every template of the session's one synthesized app: no error or warning but the documented
exceptions (tests/infrastructure/template_checks.py), each of which must still be needed."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.names import STACKS
from tests.infrastructure.template_checks import (
    CFN_LINT_EXCEPTIONS,
    Finding,
    cfn_lint_findings,
    unaccepted_lint_findings,
)


@pytest.fixture(scope="module")
def findings(templates: dict[str, dict[str, Any]]) -> dict[str, list[Finding]]:
    return {stack: cfn_lint_findings(templates[stack]) for stack in STACKS}


@pytest.mark.parametrize("stack", STACKS)
def test_the_template_passes_cfn_lint(findings: dict[str, list[Finding]], stack: str) -> None:
    unexpected = unaccepted_lint_findings(findings[stack])
    assert not unexpected, "\n".join(unexpected)


def test_every_exception_is_still_needed(findings: dict[str, list[Finding]]) -> None:
    reported = {f.rule for stack_findings in findings.values() for f in stack_findings}
    assert set(CFN_LINT_EXCEPTIONS) <= reported, f"no longer reported: {set(CFN_LINT_EXCEPTIONS) - reported}"


def test_cfn_lint_has_teeth() -> None:
    broken = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": "forever"}}}}
    assert any(f.rule.startswith("E") for f in cfn_lint_findings(broken))
