"""Webhooks: every event on the bus -> the router (one delivery per matching endpoint) -> the delivery queue ->
the sender, which signs and posts, and schedules the next attempt through the same queue."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lambdas.feed.model import JOBS_SOURCE, WEBHOOKS_SOURCE
from stacks.nag import acknowledge

# Deliveries one sender invocation takes; it posts them side by side (each at most the webhook timeout).
DELIVERY_BATCH = 10


class Webhooks(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        bus: events.IEventBus,
        router: lambda_.Function,
        sender: lambda_.Function,
    ) -> None:
        super().__init__(scope, id)
        # Messages the sender itself kept failing on (not a receiver's failure: those are retried by schedule and
        # end "dead" in the delivery log). The delivery items stay in the table either way.
        self.failures = sqs.Queue(self, "DeliveryFailures", enforce_ssl=True, retention_period=Duration.days(14))
        acknowledge(self.failures, {"AwsSolutions-SQS3": "This queue is itself the delivery queue's DLQ."})
        timeout = sender.timeout or Duration.seconds(60)
        self.queue = sqs.Queue(
            self,
            "Deliveries",
            enforce_ssl=True,
            # AWS's advice for a Lambda source: six times the function's timeout.
            visibility_timeout=Duration.seconds(timeout.to_seconds() * 6),
            # Every attempt is a new message (its delay at most 15 min): SQS's default of 4 days, stated.
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=5, queue=self.failures),
        )
        self.queue.grant_send_messages(router)
        self.queue.grant_send_messages(sender)
        for fn in (router, sender):
            fn.add_environment("WEBHOOK_QUEUE_URL", self.queue.queue_url)
        sender.add_event_source(
            sources.SqsEventSource(self.queue, batch_size=DELIVERY_BATCH, report_batch_item_failures=True)
        )
        self.unrouted = sqs.Queue(self, "UnroutedEvents", enforce_ssl=True, retention_period=Duration.days(14))
        acknowledge(self.unrouted, {"AwsSolutions-SQS3": "This queue is itself the routing rule's DLQ."})
        events.Rule(
            self,
            "RouteEvents",
            description="Every job and webhook event: one delivery per matching endpoint of its owner",
            event_bus=bus,
            event_pattern=events.EventPattern(source=[JOBS_SOURCE, WEBHOOKS_SOURCE]),
            targets=[
                targets.LambdaFunction(
                    router, dead_letter_queue=self.unrouted, retry_attempts=8, max_event_age=Duration.hours(6)
                )
            ],
        )
