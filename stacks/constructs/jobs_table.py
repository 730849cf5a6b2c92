"""The jobs table: one job by id, a user's jobs newest first, jobs by status and priority."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from lambdas.jobs import schema

_ATTRIBUTE_TYPES = {"S": dynamodb.AttributeType.STRING}


class JobsTable(Construct):
    """On-demand, point-in-time recovery, TTL on finished jobs and their events."""

    def __init__(self, scope: Construct, id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, id)
        # The schema is the repository's (lambdas/jobs/schema.py); a test holds this table to its table_definition().
        key_type = _ATTRIBUTE_TYPES[schema.KEY_ATTRIBUTE_TYPE]
        # Table (AWS::DynamoDB::Table), not TableV2: LocalStack's CloudFormation has no GlobalTable.
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=schema.PARTITION_KEY, type=key_type),
            sort_key=dynamodb.Attribute(name=schema.SORT_KEY, type=key_type),
            billing_mode=dynamodb.BillingMode(schema.BILLING_MODE),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=schema.TTL_ATTRIBUTE,
            # Every change of an item, before and after: the job event feed reads it (stacks/constructs/job_events.py).
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            removal_policy=removal_policy,
        )
        for index in schema.INDEXES:
            self.table.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(name=index.partition_key, type=key_type),
                sort_key=dynamodb.Attribute(name=index.sort_key, type=key_type),
                projection_type=dynamodb.ProjectionType(index.projection),
            )
