"""The transcode state machine (statemachines/transcode.asl.json); the scheduler (JobScheduler) starts it."""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.keys import WORK_PREFIX
from stacks.config import ROOT
from stacks.nag import acknowledge, resource_finding
from stacks.s3_listing import listing_statement

DEFINITION = ROOT / "statemachines" / "transcode.asl.json"
VENDED_LOGS_PREFIX = "/aws/vendedlogs/states/"


class TranscodeWorkflow(Construct):
    """One execution per admitted attempt of a job; every end puts `Job Finished` on the bus. Grants written out."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        functions: dict[str, lambda_.IFunction],
        table: dynamodb.ITable,
        uploads: s3.IBucket,
        work_objects: str,
        transcode_concurrency: int,
        event_bus: events.IEventBus,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        # Named under /aws/vendedlogs/states/: CloudWatch Logs' resource policy for vended log delivery is at most
        # 5,120 characters, and every other name adds one to it (deploys then fail once it is full); that prefix
        # is covered by one wildcard entry. The stack's name keeps two deployments in an account apart.
        log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"{VENDED_LOGS_PREFIX}{Stack.of(self).stack_name}-{id}",
            retention=log_retention,
            removal_policy=removal_policy,
        )
        substitutions = {f"{name}Function": fn.function_arn for name, fn in functions.items()}
        substitutions |= {
            "JobsTable": table.table_name,
            "TranscodeConcurrency": str(transcode_concurrency),
            "EventBus": event_bus.event_bus_name,
        }
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_file(str(DEFINITION)),
            definition_substitutions=substitutions,
            state_machine_type=sfn.StateMachineType.STANDARD,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
        )
        role = self.state_machine.role
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[fn.function_arn for fn in functions.values()]
            )
        )
        # MarkFailed and MarkItemFailed update the job item directly; the Distributed Map reads the plan's items.
        role.add_to_principal_policy(iam.PolicyStatement(actions=["dynamodb:UpdateItem"], resources=[table.table_arn]))
        role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[work_objects]))
        role.add_to_principal_policy(listing_statement(uploads.bucket_arn, WORK_PREFIX))  # a missing plan: 404
        # Every end of an execution tells the scheduler (`Job Finished`), which gives the job's slot back.
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["events:PutEvents"], resources=[event_bus.event_bus_arn])
        )
        # A Distributed Map runs its items as child executions of this same state machine. A separate
        # policy: the state machine's own ARN in its role's default policy would be a dependency cycle.
        executions = Stack.of(self).format_arn(
            service="states",
            resource="execution",
            resource_name=f"{self.state_machine.state_machine_name}/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        children = iam.Policy(
            self,
            "ChildExecutions",
            statements=[
                iam.PolicyStatement(
                    actions=["states:StartExecution"], resources=[self.state_machine.state_machine_arn]
                ),
                iam.PolicyStatement(
                    actions=["states:DescribeExecution", "states:StopExecution"], resources=[executions]
                ),
            ],
        )
        children.attach_to_role(role)
        acknowledge(
            children,
            {
                resource_finding(
                    self, executions
                ): "The Distributed Map's child executions of this state machine only.",
            },
        )

        for machine in (self.state_machine,):
            acknowledge(
                machine,
                {
                    "AwsSolutions-IAM5[Resource::*]": "X-Ray and CloudWatch Logs delivery actions have no "
                    "resource-level permissions.",
                },
            )
