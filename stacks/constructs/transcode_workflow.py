"""The transcode state machine (statemachines/transcode.asl.json) and the S3 event that starts it."""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.keys import UPLOAD_PREFIX
from stacks.config import ROOT
from stacks.nag import acknowledge, resource_finding

DEFINITION = ROOT / "statemachines" / "transcode.asl.json"
DISPATCH_DEFINITION = ROOT / "statemachines" / "dispatch.asl.json"


class TranscodeWorkflow(Construct):
    """Object Created in uploads/ -> EventBridge -> this state machine; grants are written out here."""

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
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=removal_policy)
        substitutions = {f"{name}Function": fn.function_arn for name, fn in functions.items()}
        substitutions |= {"JobsTable": table.table_name, "TranscodeConcurrency": str(transcode_concurrency)}
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

        # EventBridge cannot name the executions it starts; a small dispatcher names each one after its
        # object (job id + S3 sequencer), so a redelivered event cannot start a second transcode.
        dispatch_logs = logs.LogGroup(self, "DispatchLogs", retention=log_retention, removal_policy=removal_policy)
        self.dispatcher = sfn.StateMachine(
            self,
            "Dispatcher",
            definition_body=sfn.DefinitionBody.from_file(str(DISPATCH_DEFINITION)),
            definition_substitutions={"TranscodeStateMachine": self.state_machine.state_machine_arn},
            state_machine_type=sfn.StateMachineType.STANDARD,
            logs=sfn.LogOptions(destination=dispatch_logs, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
        )
        self.dispatcher.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[self.state_machine.state_machine_arn])
        )

        # Events that cannot be delivered (state machine throttled or gone) are kept, not lost.
        self.dead_letters = sqs.Queue(self, "StartFailures", enforce_ssl=True)
        acknowledge(self.dead_letters, {"AwsSolutions-SQS3": "This queue is itself the rule's dead-letter queue."})
        self.rule = events.Rule(
            self,
            "SourceUploaded",
            description="A source finished uploading: start the transcode workflow",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [uploads.bucket_name]},
                    "object": {"key": [{"prefix": UPLOAD_PREFIX}]},
                },
            ),
            # The whole event goes in: an InputTransformer fails on LocalStack, and RegisterJob reshapes it.
            targets=[targets.SfnStateMachine(self.dispatcher, dead_letter_queue=self.dead_letters)],
        )
        for machine in (self.state_machine, self.dispatcher):
            acknowledge(
                machine,
                {
                    "AwsSolutions-IAM5[Resource::*]": "X-Ray and CloudWatch Logs delivery actions have no "
                    "resource-level permissions.",
                },
            )
