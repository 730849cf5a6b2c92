"""The job event feed and webhooks as synthesized: the table's stream, the publisher's ordered mapping, the bus and
its rules, the operators' topic, the delivery queue and its DLQ."""

from __future__ import annotations

from typing import Any

from tests.conftest import dumps, resources_of


def _handler_ids(template: dict[str, Any]) -> dict[str, str]:
    return {
        f["Properties"]["Handler"].split(".")[2]: logical_id
        for logical_id, f in resources_of(template, "AWS::Lambda::Function").items()
    }


def _mapping_of(template: dict[str, Any], handler: str) -> dict[str, Any]:
    fn = _handler_ids(template)[handler]
    (mapping,) = [
        m["Properties"]
        for m in resources_of(template, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": fn}
    ]
    return dict(mapping)


def test_the_table_streams_old_and_new_images(templates: dict[str, dict[str, Any]]) -> None:
    (table,) = resources_of(templates["VodpipeStorage"], "AWS::DynamoDB::Table").values()
    assert table["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_the_publisher_reads_the_stream_in_order_and_parks_what_it_cannot_publish(
    templates: dict[str, dict[str, Any]],
) -> None:
    mapping = _mapping_of(templates["VodpipePipeline"], "publish_events")
    assert mapping["StartingPosition"] == "TRIM_HORIZON"  # nothing written before the mapping existed is lost
    assert mapping["ParallelizationFactor"] == 1  # one reader per shard: a job's events leave in write order
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "Fn::ImportValue" in dumps(mapping["EventSourceArn"])  # the storage stack's table stream
    assert "OnFailure" in mapping["DestinationConfig"]


def test_the_feed_goes_to_its_own_bus_with_rules_for_the_topic_the_owner_and_webhooks(
    templates: dict[str, dict[str, Any]],
) -> None:
    template = templates["VodpipePipeline"]
    (bus_id,) = resources_of(template, "AWS::Events::EventBus")
    on_bus = {
        r["Properties"]["Description"]: r["Properties"]
        for r in resources_of(template, "AWS::Events::Rule").values()
        if r["Properties"].get("EventBusName") == {"Ref": bus_id}
    }
    assert len(on_bus) == 3
    terminal = {"source": ["vodpipe.jobs"], "detail-type": ["Job Cancelled", "Job Completed", "Job Failed"]}
    patterns = sorted(dumps(r["EventPattern"]) for r in on_bus.values())
    assert patterns.count(dumps(terminal)) == 2  # the operators' topic and the owner's email
    assert dumps({"source": ["vodpipe.jobs", "vodpipe.webhooks"]}) in patterns  # every event: the webhook router
    topics = resources_of(template, "AWS::SNS::Topic")  # the operators' topic, and the alarms' (monitoring.py)
    (topic_id,) = [k for k, t in topics.items() if t["Properties"].get("DisplayName") == "vodpipe jobs"]
    targets = [t for r in on_bus.values() for t in r["Targets"]]
    assert {"Ref": topic_id} in [t["Arn"] for t in targets]
    assert all("DeadLetterConfig" in t for t in targets)


def test_the_publisher_may_put_events_on_the_feed_bus_only(templates: dict[str, dict[str, Any]]) -> None:
    template = templates["VodpipePipeline"]
    (bus_id,) = resources_of(template, "AWS::Events::EventBus")
    publisher = _handler_ids(template)["publish_events"]
    role = template["Resources"][publisher]["Properties"]["Role"]["Fn::GetAtt"][0]
    puts = [
        stmt["Resource"]
        for policy in resources_of(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for stmt in policy["Properties"]["PolicyDocument"]["Statement"]
        if "events:PutEvents" in (stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]])
    ]
    assert puts == [{"Fn::GetAtt": [bus_id, "Arn"]}]


def test_deliveries_are_retried_by_schedule_and_the_senders_own_failures_are_dead_lettered(
    templates: dict[str, dict[str, Any]],
) -> None:
    template = templates["VodpipePipeline"]
    mapping = _mapping_of(template, "deliver_webhooks")
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queues = resources_of(template, "AWS::SQS::Queue")
    (deliveries,) = [q for q in queues.values() if "RedrivePolicy" in q["Properties"]
                     and "DeliveryFailures" in dumps(q["Properties"]["RedrivePolicy"])]  # fmt: skip
    sender = template["Resources"][_handler_ids(template)["deliver_webhooks"]]["Properties"]
    assert deliveries["Properties"]["VisibilityTimeout"] >= 6 * sender["Timeout"]


def test_long_polls_fit_under_api_gateways_29_seconds(templates: dict[str, dict[str, Any]]) -> None:
    template = templates["VodpipePipeline"]
    api = template["Resources"][_handler_ids(template)["jobs_api"]]["Properties"]
    assert api["Timeout"] == 29
    assert float(api["Environment"]["Variables"].get("LONG_POLL_MAX_SECONDS", 25)) < api["Timeout"]
