"""The jobs table's schema: key attributes and their layout, indexes, TTL, and the table as `create_table` arguments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

# Every item shares one partition per job; the sort key tells its kinds apart:
#
#     pk              sk                          what
#     JOB#<job_id>    JOB                         the job: one attribute per Job field, plus the index keys
#     JOB#<job_id>    EVENT#<utc time>#<seq>      one JobEvent (seq: 4 digits, orders same-time events)
#     JOB#<job_id>    WORK#<attempt>#<item id>    one finished work item of an attempt (segment-parallel encode)
#
# Times in keys are fixed-width UTC ISO (`model.utc_iso`), so they sort as instants. The state machine's
# MarkFailed steps (statemachines/transcode.asl.json) write these names literally; a test holds them to this module.
PARTITION_KEY = "pk"
SORT_KEY = "sk"
# Every key attribute, of the table and of its indexes, is a string.
KEY_ATTRIBUTE_TYPE = "S"
BILLING_MODE = "PAY_PER_REQUEST"

JOB_PK_PREFIX = "JOB#"
JOB_SK = "JOB"
EVENT_SK_PREFIX = "EVENT#"
WORK_SK_PREFIX = "WORK#"
OWNER_PREFIX = "OWNER#"
STATUS_PREFIX = "STATUS#"


@dataclass(frozen=True)
class Index:
    name: str
    partition_key: str
    sort_key: str
    # ALL: listings read whole jobs from the index, with no second read per item.
    projection: str = "ALL"


# The owner's jobs: gsi1pk = OWNER#<owner>, gsi1sk = <created_at>#<job_id>; queried descending, newest first.
BY_OWNER = Index("by_owner", "gsi1pk", "gsi1sk")
# Jobs by status: gsi2pk = STATUS#<status>, gsi2sk = <99 - priority, 2 digits>#<created_at>#<job_id>;
# queried ascending, highest priority first, then oldest.
BY_STATUS = Index("by_status", "gsi2pk", "gsi2sk")
# Only job items carry index attributes, so events and work items stay out of the indexes.
INDEXES = (BY_OWNER, BY_STATUS)
KEY_ATTRIBUTES = (PARTITION_KEY, SORT_KEY, *(name for i in INDEXES for name in (i.partition_key, i.sort_key)))

# Epoch seconds. On jobs in a terminal state: completed_at + RETENTION (MarkFailed writes the start of
# processing + the retention, computed by RegisterJob; a retry removes it again); on events and work
# items: their time + RETENTION.
TTL_ATTRIBUTE = "expires_at"
RETENTION = timedelta(days=90)
# Step Functions' raw Cause, written by MarkFailed; read back as the job's error message.
ERROR_CAUSE_ATTRIBUTE = "error_cause"


def job_pk(job_id: str) -> str:
    return f"{JOB_PK_PREFIX}{job_id}"


def owner_pk(owner: str) -> str:
    return f"{OWNER_PREFIX}{owner}"


def owner_sk(created: str, job_id: str) -> str:
    return f"{created}#{job_id}"


def status_pk(status: str) -> str:
    return f"{STATUS_PREFIX}{status}"


def status_sk(priority: int, created: str, job_id: str) -> str:
    return f"{99 - priority:02d}#{created}#{job_id}"


def event_sk(time: str, seq: int) -> str:
    return f"{EVENT_SK_PREFIX}{time}#{seq:04d}"


def work_sk_prefix(attempt: int) -> str:
    return f"{WORK_SK_PREFIX}{attempt:04d}#"


def table_definition(table_name: str) -> dict[str, Any]:
    """The table as `create_table(**table_definition(name))` arguments; TTL is enabled separately."""
    return {
        "TableName": table_name,
        "BillingMode": BILLING_MODE,
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": KEY_ATTRIBUTE_TYPE} for name in KEY_ATTRIBUTES
        ],
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": index.projection},
            }
            for index in INDEXES
        ],
    }
