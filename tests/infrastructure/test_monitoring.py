"""Monitoring as synthesized: the alarms' topic (customer key, TLS only), the dashboard, and an alarm on the job
failure rate, on every dead-letter queue the app has (found from the template, not from a list), on the oldest
waiting job, on every function's throttles, on API 5XX and on the state machine; every alarm tells the topic; the
functions that emit the job metrics write them where the alarms look."""

from __future__ import annotations

from typing import Any

import pytest

from lambdas.metrics import model as m
from tests.conftest import dumps, resources_of

PIPELINE = "VodpipePipeline"


@pytest.fixture(scope="module")
def template(templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return templates[PIPELINE]


@pytest.fixture(scope="module")
def alarms(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["Properties"] for a in resources_of(template, "AWS::CloudWatch::Alarm").values()]


def _alarm_topic(template: dict[str, Any]) -> str:
    (topic,) = [k for k, t in resources_of(template, "AWS::SNS::Topic").items()
                if t["Properties"].get("DisplayName") == "vodpipe alarms"]  # fmt: skip
    return topic


def _metric_names(alarm: dict[str, Any]) -> set[str]:
    names = {alarm.get("MetricName")}
    names |= {q["MetricStat"]["Metric"]["MetricName"] for q in alarm.get("Metrics", []) if "MetricStat" in q}
    return {name for name in names if name}


def _single(alarm: dict[str, Any]) -> dict[str, Any]:
    """An alarm on one metric as its top-level fields have it, whichever form CDK wrote (a label makes `Metrics`)."""
    if "MetricName" in alarm:
        return alarm
    (query,) = alarm["Metrics"]
    stat = query["MetricStat"]
    return dict(stat["Metric"]) | {"Statistic": stat["Stat"], "Period": stat["Period"]}


def _dimension(alarm: dict[str, Any], name: str) -> Any:
    return next((d["Value"] for d in alarm.get("Dimensions", []) if d["Name"] == name), None)


def test_the_alarms_topic_is_encrypted_by_a_rotated_key_cloudwatch_may_use_and_takes_tls_only(
    template: dict[str, Any],
) -> None:
    topic = template["Resources"][_alarm_topic(template)]["Properties"]
    (key_id,) = resources_of(template, "AWS::KMS::Key")
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    key = template["Resources"][key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    statements = key["KeyPolicy"]["Statement"]
    assert any(s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in statements)
    policies = [p["Properties"] for p in resources_of(template, "AWS::SNS::TopicPolicy").values()
                if {"Ref": _alarm_topic(template)} in p["Properties"]["Topics"]]  # fmt: skip
    (policy,) = policies
    assert '"aws:SecureTransport": "false"' in dumps(policy["PolicyDocument"])


def test_every_alarm_tells_the_topic_when_it_fires_and_when_it_clears(
    template: dict[str, Any], alarms: list[dict[str, Any]]
) -> None:
    topic = {"Ref": _alarm_topic(template)}
    assert alarms
    assert all(a["AlarmActions"] == [topic] and a["OKActions"] == [topic] for a in alarms)


def test_the_failure_rate_is_failed_over_ended_jobs_of_this_deployment_with_a_minimum_count(
    alarms: list[dict[str, Any]],
) -> None:
    (rate,) = [a for a in alarms if _metric_names(a) == {m.JOBS_FAILED, m.JOBS_COMPLETED}]
    (expression,) = [q["Expression"] for q in rate["Metrics"] if "Expression" in q]
    assert expression.startswith("IF(FILL(c, 0) + FILL(f, 0) >= 5,")
    assert "FILL(f, 0) / (FILL(c, 0) + FILL(f, 0))" in expression
    stats = [q["MetricStat"] for q in rate["Metrics"] if "MetricStat" in q]
    assert {s["Period"] for s in stats} == {900}
    assert {s["Stat"] for s in stats} == {"Sum"}
    assert all(s["Metric"]["Namespace"] == "vodpipe" for s in stats)
    assert all(s["Metric"]["Dimensions"] == [{"Name": "service", "Value": PIPELINE}] for s in stats)
    assert 0 < rate["Threshold"] <= 1


def test_every_dead_letter_queue_of_the_app_has_a_depth_alarm(
    template: dict[str, Any], alarms: list[dict[str, Any]]
) -> None:
    resources = template["Resources"]
    dead_letters: set[str] = set()
    for queue in resources_of(template, "AWS::SQS::Queue").values():  # a queue's redrive target
        if "RedrivePolicy" in queue["Properties"]:
            dead_letters.add(queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0])
    for rule in resources_of(template, "AWS::Events::Rule").values():  # a rule target's dead-letter config
        for target in rule["Properties"].get("Targets", []):
            if "DeadLetterConfig" in target:
                dead_letters.add(target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0])
    for mapping in resources_of(template, "AWS::Lambda::EventSourceMapping").values():  # a stream's on-failure
        on_failure = mapping["Properties"].get("DestinationConfig", {}).get("OnFailure")
        if on_failure:
            dead_letters.add(on_failure["Destination"]["Fn::GetAtt"][0])
    assert all(resources[q]["Type"] == "AWS::SQS::Queue" for q in dead_letters)
    assert len(dead_letters) >= 5
    watched = {
        _dimension(a, "QueueName")["Fn::GetAtt"][0]
        for a in alarms
        if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and a["Threshold"] == 1
        and a["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    }
    assert dead_letters <= watched, f"no depth alarm: {sorted(dead_letters - watched)}"


def test_every_function_has_a_throttles_alarm(template: dict[str, Any], alarms: list[dict[str, Any]]) -> None:
    functions = set(resources_of(template, "AWS::Lambda::Function"))
    throttled = {_dimension(a, "FunctionName")["Ref"] for a in alarms if a.get("MetricName") == "Throttles"}
    assert functions == throttled


def test_the_oldest_waiting_job_is_alarmed_on_and_a_silent_scheduler_alarms_too(alarms: list[dict[str, Any]]) -> None:
    (oldest,) = [a for a in alarms if _metric_names(a) == {m.OLDEST_QUEUED_SECONDS}]
    metric = _single(oldest)
    assert metric["Namespace"] == "vodpipe"
    assert _dimension(metric, "service") == PIPELINE
    assert metric["Statistic"] == "Maximum"
    assert oldest["Threshold"] == 30 * 60
    assert oldest["TreatMissingData"] == "breaching"  # the tick measures every minute: silence is a failure


def test_api_5xx_and_the_state_machines_failures_throttles_and_timeouts_are_alarmed_on(
    template: dict[str, Any], alarms: list[dict[str, Any]]
) -> None:
    (api5xx,) = [a for a in alarms if a.get("MetricName") == "5XXError"]
    assert api5xx["Namespace"] == "AWS/ApiGateway"
    assert _dimension(api5xx, "Stage") is not None
    (machine,) = resources_of(template, "AWS::StepFunctions::StateMachine")
    on_machine = {
        a["MetricName"]
        for a in alarms
        if a.get("Namespace") == "AWS/States" and _dimension(a, "StateMachineArn") == {"Ref": machine}
    }
    assert on_machine == {"ExecutionsFailed", "ExecutionThrottled", "ExecutionsTimedOut"}  # AWS's own names


def test_the_emitting_functions_write_the_namespace_and_service_the_alarms_read(template: dict[str, Any]) -> None:
    variables = {
        f["Properties"]["Handler"].split(".")[2]: f["Properties"]["Environment"]["Variables"]
        for f in resources_of(template, "AWS::Lambda::Function").values()
    }
    for handler in ("publish_events", "schedule_jobs"):
        assert variables[handler]["METRICS_NAMESPACE"] == "vodpipe"
        assert variables[handler]["METRICS_SERVICE"] == PIPELINE


def test_the_dashboard_shows_the_job_queue_and_dead_letter_metrics(template: dict[str, Any]) -> None:
    (dashboard,) = resources_of(template, "AWS::CloudWatch::Dashboard").values()
    body = dumps(dashboard["Properties"]["DashboardBody"])
    for name in (m.JOBS_FAILED, m.JOB_DURATION, m.QUEUE_WAIT, m.OLDEST_QUEUED_SECONDS, m.ENCODE_CPU_SECONDS):
        assert name in body
    assert "ApproximateNumberOfMessagesVisible" in body
    assert "alarm" in body
