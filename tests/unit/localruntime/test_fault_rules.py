"""Fault rules (localruntime/vodpipe_localruntime/fault_rules.py): what a rule matches, its rate and duration, the
service's own error, and the counts the endpoint reports."""

from __future__ import annotations

from typing import Any

import pytest
from vodpipe_localruntime.fault_rules import (
    Caller,
    Fault,
    InvalidRule,
    Rule,
    RuleBook,
    fault_for,
    function_from_assumed_role,
    parse_rules,
)

PROBE = Caller("function", "VodpipePipeline-FunctionsProbeSourceA1B2-xyz")
API = Caller("function", "VodpipePipeline-FunctionsJobsApiC3D4-xyz")
INTERNAL = Caller("internal")
TEST = Caller("external")


def book(*rules: dict[str, Any], now: float = 0.0) -> RuleBook:
    rulebook = RuleBook()
    rulebook.add(list(rules), now)
    return rulebook


def test_without_rules_nothing_fails_and_the_book_is_falsy() -> None:
    rules = RuleBook()
    assert not rules
    assert rules.decide("s3", "GetObject", PROBE, 0.0) is None


def test_a_rule_matches_its_service_and_operations_only() -> None:
    rules = book({"service": "s3", "operations": ["GetObject"]})
    assert rules.decide("s3", "GetObject", PROBE, 1.0) == fault_for("s3", "throttle")
    assert rules.decide("s3", "PutObject", PROBE, 1.0) is None
    assert rules.decide("dynamodb", "GetObject", PROBE, 1.0) is None


def test_no_operations_means_every_operation_of_the_service() -> None:
    rules = book({"service": "dynamodb", "error": "5xx"})
    assert rules.decide("dynamodb", "Query", API, 0.0) == Fault("InternalServerError", 500, "Internal server error")


def test_functions_are_patterns_on_the_callers_name() -> None:
    rules = book({"service": "s3", "functions": ["*ProbeSource*"]})
    assert rules.decide("s3", "GetObject", PROBE, 0.0) is not None
    assert rules.decide("s3", "GetObject", API, 0.0) is None


def test_internal_and_external_callers_match_only_when_asked() -> None:
    default = book({"service": "s3"})
    assert default.decide("s3", "GetObject", INTERNAL, 0.0) is None
    assert default.decide("s3", "GetObject", TEST, 0.0) is None
    assert default.decide("s3", "GetObject", PROBE, 0.0) is not None
    both = book({"service": "s3", "internal": True, "external": True, "functions": []})
    assert both.decide("s3", "GetObject", INTERNAL, 0.0) is not None
    assert both.decide("s3", "GetObject", TEST, 0.0) is not None
    assert both.decide("s3", "GetObject", PROBE, 0.0) is None, "functions [] is no function at all"


def test_an_internal_caller_is_labelled_by_its_service_principal() -> None:
    rules = book({"service": "dynamodb", "rate": 0, "internal": True, "functions": []})
    rules.decide("dynamodb", "UpdateItem", Caller("internal", principal="states"), 0.0)
    rules.decide("dynamodb", "DescribeTable", INTERNAL, 0.0)
    (rule,) = rules.snapshot()
    assert set(rule.by_caller) == {"internal:states", "internal"}


def test_a_rule_ends_after_its_duration() -> None:
    rules = book({"service": "s3", "duration_s": 2}, now=10.0)
    assert rules.decide("s3", "GetObject", PROBE, 11.9) is not None
    assert rules.decide("s3", "GetObject", PROBE, 12.0) is None
    (rule,) = rules.snapshot()
    assert rule.describe(13.0)["active"] is False
    assert rule.describe(11.0)["seconds_left"] == pytest.approx(1.0)


def test_a_seeded_rate_fails_about_that_share_and_repeats_exactly() -> None:
    def schedule() -> list[bool]:
        rules = book({"service": "dynamodb", "rate": 0.25, "seed": 7})
        return [rules.decide("dynamodb", "GetItem", API, 0.0) is not None for _ in range(2000)]

    first = schedule()
    assert first == schedule()
    assert 0.2 < sum(first) / len(first) < 0.3


def test_max_failures_fails_the_first_n_then_only_counts() -> None:
    rules = book({"service": "s3", "max_failures": 2})
    outcomes = [rules.decide("s3", "GetObject", PROBE, 0.0) is not None for _ in range(4)]
    assert outcomes == [True, True, False, False]
    (rule,) = rules.snapshot()
    assert (rule.matched, rule.failed) == (4, 2)


def test_rate_zero_only_counts() -> None:
    rules = book({"service": "lambda", "rate": 0, "internal": True})
    assert all(rules.decide("lambda", "Invoke", INTERNAL, 0.0) is None for _ in range(5))
    (rule,) = rules.snapshot()
    assert (rule.matched, rule.failed) == (5, 0)


def test_counts_per_caller_and_operation() -> None:
    rules = book({"service": "s3"})
    rules.decide("s3", "GetObject", PROBE, 0.0)
    rules.decide("s3", "GetObject", PROBE, 0.0)
    rules.decide("s3", "PutObject", API, 0.0)
    (rule,) = rules.snapshot()
    described = rule.describe(0.0)
    assert (described["matched"], described["failed"]) == (3, 3)
    assert described["by_caller"] == {
        PROBE.label: {"GetObject": {"matched": 2, "failed": 2}},
        API.label: {"PutObject": {"matched": 1, "failed": 1}},
    }


def test_the_first_matching_active_rule_decides() -> None:
    rules = book({"service": "s3", "rate": 0}, {"service": "s3", "error": "5xx"})
    assert rules.decide("s3", "GetObject", PROBE, 0.0) is None
    first, second = rules.snapshot()
    assert (first.matched, second.matched) == (1, 0)


def test_clear_answers_the_rules_with_their_counts_and_empties_the_book() -> None:
    rules = book({"service": "s3"})
    rules.decide("s3", "GetObject", PROBE, 0.0)
    (gone,) = rules.clear()
    assert gone.failed == 1
    assert not rules


@pytest.mark.parametrize(
    ("service", "kind", "code", "status"),
    [
        ("s3", "throttle", "SlowDown", 503),
        ("s3", "5xx", "InternalError", 500),
        ("s3", "unavailable", "ServiceUnavailable", 503),
        ("dynamodb", "throttle", "ProvisionedThroughputExceededException", 400),
        ("lambda", "throttle", "TooManyRequestsException", 429),
        ("stepfunctions", "throttle", "ThrottlingException", 400),
        ("stepfunctions", "5xx", "InternalFailure", 500),
        ("events", "5xx", "InternalException", 500),
    ],
)
def test_each_service_answers_its_own_error(service: str, kind: Any, code: str, status: int) -> None:
    fault = fault_for(service, kind)
    assert (fault.code, fault.status) == (code, status)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "service"),
        ({"service": "s3", "rate": 1.5}, "rate"),
        ({"service": "s3", "rate": True}, "rate"),
        ({"service": "s3", "error": "teapot"}, "error"),
        ({"service": "s3", "duration_s": 0}, "duration_s"),
        ({"service": "s3", "operations": "GetObject"}, "operations"),
        ({"service": "s3", "seed": "x"}, "seed"),
        ({"service": "s3", "max_failures": 0}, "max_failures"),
        ({"service": "s3", "internal": "yes"}, "internal"),
        ({"service": "s3", "colour": "red"}, "unknown fields: colour"),
    ],
)
def test_invalid_rules_are_refused_with_the_field(body: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidRule, match=problem):
        Rule.parse(body, rule_id="r1", now=0.0)


def test_the_body_is_one_rule_a_list_or_rules() -> None:
    rule = {"service": "s3"}
    assert parse_rules(rule) == [rule]
    assert parse_rules([rule, rule]) == [rule, rule]
    assert parse_rules({"rules": [rule]}) == [rule]
    with pytest.raises(InvalidRule):
        parse_rules([])
    with pytest.raises(InvalidRule):
        parse_rules("s3")


def test_a_bad_rule_in_a_list_adds_none_of_them() -> None:
    rules = RuleBook()
    with pytest.raises(InvalidRule):
        rules.add([{"service": "s3"}, {"service": ""}], 0.0)
    assert not rules


def test_the_function_is_the_assumed_role_session() -> None:
    arn = "arn:aws:sts::000000000000:assumed-role/VodpipePipeline-Role/VodpipePipeline-FunctionsProbeSource-x"
    assert function_from_assumed_role(arn) == "VodpipePipeline-FunctionsProbeSource-x"
    assert function_from_assumed_role("arn:aws:iam::000000000000:user/test") is None
    assert function_from_assumed_role(None) is None
