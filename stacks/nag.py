"""cdk-nag acknowledgements: every one names its rule (and finding) and says why it is acceptable."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rules: dict[str, str]) -> None:
    """`rules` maps a rule id (optionally `Rule[Finding]`) to the reason it is acceptable here."""
    Validations.of(scope).acknowledge(*(Acknowledgment(id=rule, reason=reason) for rule, reason in rules.items()))


def resource_finding(scope: IConstruct, arn: str) -> str:
    """The IAM5 finding id cdk-nag reports for `arn` (which may hold tokens) in scope's stack."""
    return f"AwsSolutions-IAM5[Resource::{_flatten(Stack.of(scope).resolve(arn))}]"


def _flatten(value: Any) -> str:
    # Mirrors cdk-nag's flattenCfnReference: how it prints intrinsics inside a finding id.
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return f"<{arg}>"
        if key == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>" if isinstance(arg, list) else f"<{arg}>"
        if key == "Fn::ImportValue":
            return _flatten(arg)
        if key == "Fn::Join":
            sep, parts = arg
            return str(sep).join(_flatten(p) for p in parts)
    return json.dumps(value, separators=(",", ":"))
