"""The scheduler's triggers: a finished upload (S3 via EventBridge), a queued or ended job (vodpipe's own
events), and the periodic tick, each a rule invoking the ScheduleJobs function; undeliverable events are kept."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lambdas.events import API_SOURCE, FINISHED, QUEUED, WORKFLOW_SOURCE
from lambdas.keys import UPLOAD_PREFIX
from stacks.nag import acknowledge


class JobScheduler(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        function: lambda_.IFunction,
        uploads: s3.IBucket,
        event_bus: events.IEventBus,
        tick_minutes: int,
    ) -> None:
        super().__init__(scope, id)
        # Events that cannot be delivered (the function throttled or gone) are kept, not lost: the health
        # report shows this queue's depth, and the tick admits and repairs whatever they were about.
        self.dead_letters = sqs.Queue(self, "StartFailures", enforce_ssl=True, retention_period=Duration.days(14))
        acknowledge(self.dead_letters, {"AwsSolutions-SQS3": "This queue is itself the rules' dead-letter queue."})

        def target() -> targets.LambdaFunction:
            # The whole event goes in: an InputTransformer fails on LocalStack, and the handler parses each kind.
            return targets.LambdaFunction(
                function, dead_letter_queue=self.dead_letters, retry_attempts=4, max_event_age=Duration.hours(2)
            )

        self.uploaded = events.Rule(
            self,
            "SourceUploaded",
            description="A source finished uploading: queue its job and admit what may start",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [uploads.bucket_name]},
                    "object": {"key": [{"prefix": UPLOAD_PREFIX}]},
                },
            ),
            targets=[target()],
        )
        self.signals = events.Rule(
            self,
            "JobSignals",
            description="A job was queued (retry) or ended (workflow, cancel): give back its slot, admit the next",
            event_bus=event_bus,
            event_pattern=events.EventPattern(source=[API_SOURCE, WORKFLOW_SOURCE], detail_type=[QUEUED, FINISHED]),
            targets=[target()],
        )
        self.tick = events.Rule(
            self,
            "Tick",
            description="Admit what waits and repair what was lost (never-started, ended-unmarked, expired uploads)",
            schedule=events.Schedule.rate(Duration.minutes(tick_minutes)),
            targets=[target()],
        )
