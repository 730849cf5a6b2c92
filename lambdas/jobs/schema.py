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
#     QUEUE           RUNNING                     the admission counter: `running` jobs hold a slot (lambdas/queue)
#     QUEUE           USER#<owner>                one owner's admission counter: `running`
#     QUOTA#<owner>   UPLOADS#<utc hour>          the owner's uploads created in that hour (`count`), with a TTL
#     QUOTA#*         REFUSED#<utc hour>          the 429s answered in that hour, per minute and kind (lambdas/quotas)
#     TOKEN#<sha256>  TOKEN                       an API token: owner, role, max_priority (lambdas/auth/dynamodb.py)
#     TOKENS          TOKEN#<token id>            the listable registry of tokens (id, owner, role, created)
#     OWNER#<owner>   WEBHOOK#<endpoint id>       a webhook endpoint: url, events, status, secrets (lambdas/webhooks)
#     WEBHOOK#<id>    DELIVERY#<delivery id>      one webhook delivery and its attempt log; TTL created + 30 days
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
WAITING_PREFIX = "WAITING#"
DAY_PREFIX = "DAY#"
QUEUE_PK = "QUEUE"
RUNNING_SK = "RUNNING"
USER_SK_PREFIX = "USER#"
QUOTA_PK_PREFIX = "QUOTA#"
UPLOADS_SK_PREFIX = "UPLOADS#"
# Webhook endpoints (sk, under their owner's OWNER# partition) and their deliveries (pk WEBHOOK#, sk DELIVERY#).
WEBHOOK_PREFIX = "WEBHOOK#"
DELIVERY_SK_PREFIX = "DELIVERY#"
# The slot-holder marker on a job item (lambdas/queue): the attempt that holds a slot. Not a Job field: the
# queue sets it on admission and removes it on release, in the same transactions as the counters.
SLOT_ATTRIBUTE = "slot"
SLOT_HOLDER = "SLOT"


@dataclass(frozen=True)
class Index:
    name: str
    partition_key: str
    sort_key: str
    # ALL: listings read whole jobs from the index, with no second read per item.
    projection: str = "ALL"


# The owner's jobs: gsi1pk = OWNER#<owner>, gsi1sk = <created_at>#<job_id>; queried descending, newest first.
BY_OWNER = Index("by_owner", "gsi1pk", "gsi1sk")
# Jobs by status: gsi2pk = STATUS#<status>, gsi2sk = <priority, 2 digits>#<queued_at or created_at>#<job_id>;
# queried ascending: priority 1 first, then first queued. The QUEUED partition is the queue, one
# `begins_with(gsi2sk, "05#")` range per priority level, each in FIFO order.
BY_STATUS = Index("by_status", "gsi2pk", "gsi2sk")
# Sparse: only jobs holding an admission slot (gsi3pk = SLOT, gsi3sk = <started_at>#<job_id>), written by the
# queue with the slot itself. Few items (at most max_running_jobs, plus any release still to come).
BY_SLOT = Index("by_slot", "gsi3pk", "gsi3sk")
# Sparse: an owner's jobs while they wait (UPLOADING or QUEUED): gsi4pk = WAITING#<owner>, gsi4sk = gsi1sk.
# Counted for the max_queued_jobs_per_user quota without reading the owner's history.
WAITING_BY_OWNER = Index("waiting_by_owner", "gsi4pk", "gsi4sk")
# Jobs by the day they started (gsi5) and the day they ended (gsi6): gsi5pk = DAY#<yyyy-mm-dd>,
# gsi5sk = <started_at>#<job_id>; the operators' windows (admissions, completions, waits) read a day or two.
BY_STARTED = Index("by_started", "gsi5pk", "gsi5sk")
BY_COMPLETED = Index("by_completed", "gsi6pk", "gsi6sk")
# Only job items carry index attributes, so events and work items stay out of the indexes.
INDEXES = (BY_OWNER, BY_STATUS, BY_SLOT, WAITING_BY_OWNER, BY_STARTED, BY_COMPLETED)
# Attributes of a job item that are not Job fields (the queue's slot marker): dropped when a job is read.
QUEUE_ATTRIBUTES = (SLOT_ATTRIBUTE,)
# What each metered invocation used (lambdas/cost/dynamodb.py): a string set on the job item, one element per
# invocation, added by the invocation itself; not a Job field (the measured cost at publish is: `Job.cost`).
USAGE_ATTRIBUTE = "usage"
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


def status_sk(priority: int, since: str, job_id: str) -> str:
    """`since`: when the job was queued (its place in the queue), or created if it never was."""
    return f"{priority:02d}#{since}#{job_id}"


def priority_prefix(priority: int) -> str:
    """The range of one priority level within a status partition of BY_STATUS."""
    return f"{priority:02d}#"


def waiting_pk(owner: str) -> str:
    return f"{WAITING_PREFIX}{owner}"


def day_pk(day: str) -> str:
    """`day`: yyyy-mm-dd (UTC)."""
    return f"{DAY_PREFIX}{day}"


def user_counter_sk(owner: str) -> str:
    return f"{USER_SK_PREFIX}{owner}"


def quota_pk(owner: str) -> str:
    return f"{QUOTA_PK_PREFIX}{owner}"


def uploads_sk(hour: str) -> str:
    """`hour`: yyyy-mm-ddThh (UTC)."""
    return f"{UPLOADS_SK_PREFIX}{hour}"


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
