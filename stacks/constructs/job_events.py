"""The job event feed: the jobs table's stream -> the publisher -> the deployment's own event bus; terminal events
-> the operators' SNS topic and the owner's email. Users route the bus anywhere with their own rules."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lambdas.feed.model import JOBS_SOURCE, TERMINAL_TYPES, detail_type
from stacks.nag import acknowledge

# Stream records per invocation: one PutEvents per 10 events, so a burst of job writes costs few invocations.
STREAM_BATCH = 100


class JobEvents(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        table: dynamodb.ITable,
        publisher: lambda_.Function,
        mailer: lambda_.Function,
        sender: str | None,
        create_sender_identity: bool,
        operator_emails: list[str],
    ) -> None:
        super().__init__(scope, id)
        self.bus = events.EventBus(self, "Bus", description="vodpipe job events: one detail-type per kind")
        _allow(publisher, ["events:PutEvents"], self.bus.event_bus_arn)
        publisher.add_environment("FEED_BUS_NAME", self.bus.event_bus_name)

        # A record the publisher keeps failing on (after bisecting the batch) is parked here with its position, not
        # retried forever: the shard moves on and the job's later events still flow.
        self.unpublished = sqs.Queue(self, "UnpublishedRecords", enforce_ssl=True, retention_period=Duration.days(14))
        acknowledge(self.unpublished, {"AwsSolutions-SQS3": "This queue is itself the stream's failure destination."})
        # One reader per shard, in order (parallelization 1): a job's events leave in the order of its writes.
        publisher.add_event_source(
            sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=STREAM_BATCH,
                bisect_batch_on_error=True,
                retry_attempts=20,
                report_batch_item_failures=True,
                parallelization_factor=1,
                on_failure=sources.SqsDlq(self.unpublished),
            )
        )

        terminal = events.EventPattern(
            source=[JOBS_SOURCE], detail_type=sorted(detail_type(kind) for kind in TERMINAL_TYPES)
        )
        # Operators subscribe email, SMS or chat (AWS Chatbot) to this topic; the whole event is the message.
        self.topic = sns.Topic(self, "Notifications", display_name="vodpipe jobs", enforce_ssl=True)
        for address in operator_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        acknowledge(
            self.topic,
            {
                "AwsSolutions-SNS2": "EventBridge cannot publish to a topic encrypted with the AWS managed SNS key; "
                "the messages are job states already readable through the API (no media, no secrets)."
            },
        )
        self.failed_notifications = sqs.Queue(
            self, "UndeliveredNotifications", enforce_ssl=True, retention_period=Duration.days(14)
        )
        acknowledge(self.failed_notifications, {"AwsSolutions-SQS3": "This queue is itself the rules' DLQ."})
        events.Rule(
            self,
            "TerminalToTopic",
            description="A job completed, failed or was cancelled: tell the operators' topic",
            event_bus=self.bus,
            event_pattern=terminal,
            targets=[targets.SnsTopic(self.topic, dead_letter_queue=self.failed_notifications)],
        )

        # The owner's email: only where the deployment names a sender. Its SES identity is made here unless the
        # deployment says it exists already (a verified domain, or LocalStack, whose CloudFormation cannot make one).
        mailer.add_environment("NOTIFICATION_SENDER", sender or "")
        if sender:
            if create_sender_identity:
                ses.EmailIdentity(self, "Sender", identity=ses.Identity.email(sender))
            domain = sender.rsplit("@", 1)[-1]
            # SES authorises SendEmail on the identity that covers the sender: the address, or its domain.
            arns = [
                Stack.of(self).format_arn(service="ses", resource="identity", resource_name=name)
                for name in (sender, domain)
            ]
            _allow(mailer, ["ses:SendEmail"], *arns)
        events.Rule(
            self,
            "TerminalToOwner",
            description="A job ended: email its owner (when the token has an address)",
            event_bus=self.bus,
            event_pattern=terminal,
            targets=[
                targets.LambdaFunction(
                    mailer,
                    dead_letter_queue=self.failed_notifications,
                    retry_attempts=4,
                    max_event_age=Duration.hours(6),
                )
            ],
        )


def _allow(fn: lambda_.Function, actions: list[str], *resources: str) -> None:
    fn.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=list(resources)))
