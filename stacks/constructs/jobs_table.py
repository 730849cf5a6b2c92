"""The jobs table: one job by id, a user's jobs newest first, jobs by status and priority."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

# The key design is documented with its only reader and writer, lambdas/jobs/dynamodb.py.
TTL_ATTRIBUTE = "expires_at"
BY_OWNER_INDEX = "by_owner"
BY_STATUS_INDEX = "by_status"


class JobsTable(Construct):
    """On-demand, point-in-time recovery, TTL on finished jobs and their events."""

    def __init__(self, scope: Construct, id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, id)
        string = dynamodb.AttributeType.STRING
        # Table (AWS::DynamoDB::Table), not TableV2: LocalStack's CloudFormation has no GlobalTable.
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=string),
            sort_key=dynamodb.Attribute(name="sk", type=string),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            removal_policy=removal_policy,
        )
        for name, pk, sk in ((BY_OWNER_INDEX, "gsi1pk", "gsi1sk"), (BY_STATUS_INDEX, "gsi2pk", "gsi2sk")):
            self.table.add_global_secondary_index(
                index_name=name,
                partition_key=dynamodb.Attribute(name=pk, type=string),
                sort_key=dynamodb.Attribute(name=sk, type=string),
            )
