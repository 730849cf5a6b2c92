"""The jobs table as synthesized: what `lambdas.jobs.schema.table_definition()` describes, plus TTL and recovery."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match, Template

from lambdas.jobs import schema
from tests.conftest import resources_of


def _table(templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (table,) = resources_of(templates["VodpipeStorage"], "AWS::DynamoDB::Table").values()
    properties: dict[str, Any] = table["Properties"]
    return properties


def _by_name(indexes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {index["IndexName"]: index for index in indexes}


def _types(attributes: list[dict[str, str]]) -> dict[str, str]:
    return {attribute["AttributeName"]: attribute["AttributeType"] for attribute in attributes}


def test_the_table_is_the_schemas_table_definition(templates: dict[str, dict[str, Any]]) -> None:
    """The integration tests create their tables from table_definition(): they must test the deployed design."""
    table = _table(templates)
    definition = schema.table_definition("unused")
    assert table["BillingMode"] == definition["BillingMode"]
    assert table["KeySchema"] == definition["KeySchema"]
    assert _types(table["AttributeDefinitions"]) == _types(definition["AttributeDefinitions"])
    indexes, expected = _by_name(table["GlobalSecondaryIndexes"]), _by_name(definition["GlobalSecondaryIndexes"])
    assert indexes.keys() == expected.keys()
    for name, index in expected.items():
        assert indexes[name]["KeySchema"] == index["KeySchema"], name
        assert indexes[name]["Projection"] == index["Projection"], name
    assert table["TimeToLiveSpecification"] == {"AttributeName": schema.TTL_ATTRIBUTE, "Enabled": True}


def test_jobs_table_keys_indexes_ttl_and_recovery(storage: Template) -> None:
    storage.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "GlobalSecondaryIndexes": [
                Match.object_like(
                    {
                        "IndexName": name,
                        "KeySchema": [
                            {"AttributeName": f"gsi{n}pk", "KeyType": "HASH"},
                            {"AttributeName": f"gsi{n}sk", "KeyType": "RANGE"},
                        ],
                    }
                )
                for n, name in enumerate(
                    ("by_owner", "by_status", "by_slot", "waiting_by_owner", "by_started", "by_completed"), start=1
                )
            ],
        },
    )
