"""Operations: the alarms' SNS topic (encrypted, TLS only), a CloudWatch dashboard, and the alarms — job failure rate,
every dead-letter queue's depth, the oldest waiting job, Lambda throttles, API 5XX, state machine failures.

The job and queue metrics are the EMF lines of PublishEvents and ScheduleJobs (lambdas/metrics), in the deployment's
namespace with `service` = the pipeline stack's name: this construct sets both on the functions that emit them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.metrics import model as m

# The failure rate is judged over this window, and only once this many jobs ended in it.
FAILURE_WINDOW = Duration.minutes(15)
FAILURE_MIN_ENDED = 5
# A short window for what should never happen at all (throttles, dead letters, server errors).
SHORT = Duration.minutes(5)
API_5XX_PER_WINDOW = 5  # 5XX answers within SHORT
FAILED_EXECUTIONS_PER_WINDOW = 10  # failed executions within FAILURE_WINDOW (each failed job is one)


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        namespace: str,
        functions: Mapping[str, lambda_.IFunction],
        emitters: Sequence[lambda_.Function],
        dead_letter_queues: Mapping[str, sqs.IQueue],
        api_stage: apigw.Stage,
        state_machine: sfn.IStateMachine,
        alarm_emails: Sequence[str],
        failure_rate: float,
        oldest_queued_minutes: float,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        self.namespace, self.service = namespace, stack.stack_name
        for emitter in emitters:
            emitter.add_environment("METRICS_NAMESPACE", self.namespace)
            emitter.add_environment("METRICS_SERVICE", self.service)

        # CloudWatch publishes to an encrypted topic only with a customer managed key whose policy lets it.
        self.key = kms.Key(
            self,
            "AlarmsKey",
            description="vodpipe alarms topic",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        self.topic = sns.Topic(self, "Alarms", display_name="vodpipe alarms", master_key=self.key, enforce_ssl=True)
        for address in alarm_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        self.alarms: list[cw.Alarm] = []

        completed, failed, cancelled = (self.job_metric(name, FAILURE_WINDOW) for name in _ENDS)
        rate = cw.MathExpression(
            expression=f"IF(FILL(c, 0) + FILL(f, 0) >= {FAILURE_MIN_ENDED}, FILL(f, 0) / (FILL(c, 0) + FILL(f, 0)), 0)",
            using_metrics={"c": completed, "f": failed},
            period=FAILURE_WINDOW,
            label="failed / ended jobs",
        )
        self._alarm(
            "JobFailureRate",
            rate,
            failure_rate,
            f"More than {failure_rate:.0%} of the jobs ended in 15 min failed (of {FAILURE_MIN_ENDED} ended at least)",
        )
        for name, queue in dead_letter_queues.items():
            depth = queue.metric_approximate_number_of_messages_visible(period=SHORT, statistic="Maximum")
            self._alarm(
                f"{name}Depth", depth, 1, f"Messages are waiting in the dead-letter queue {name}: see the README"
            )
        oldest = self.queue_metric(m.OLDEST_QUEUED_SECONDS, "Maximum")
        self._alarm(
            "OldestQueuedJob",
            oldest,
            oldest_queued_minutes * 60,
            f"A job has waited in the queue more than {oldest_queued_minutes:g} min (or the scheduler's tick "
            "stopped measuring)",
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            missing=cw.TreatMissingData.BREACHING,
        )
        for name, fn in functions.items():
            throttles = fn.metric_throttles(period=SHORT, statistic="Sum")
            self._alarm(f"{name}Throttles", throttles, 1, f"Lambda throttled {name}")
        server_errors = api_stage.metric_server_error(period=SHORT, statistic="Sum")
        self._alarm("Api5XX", server_errors, API_5XX_PER_WINDOW, "The API answered 5XX")
        executions_failed = state_machine.metric_failed(period=FAILURE_WINDOW, statistic="Sum")
        self._alarm(
            "ExecutionsFailed", executions_failed, FAILED_EXECUTIONS_PER_WINDOW, "Many workflow executions failed"
        )
        for label, metric in (
            ("ExecutionsThrottled", state_machine.metric_throttled(period=SHORT, statistic="Sum")),
            ("ExecutionsTimedOut", state_machine.metric_timed_out(period=SHORT, statistic="Sum")),
        ):
            self._alarm(label, metric, 1, f"Workflow {label[len('Executions') :].lower()} executions")

        self.dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        minute = Duration.minutes(1)
        self.dashboard.add_widgets(
            cw.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms), width=24, height=4),
            cw.GraphWidget(
                title="Jobs ended",
                left=[completed, failed, cancelled],
                stacked=True,
                width=8,
            ),
            cw.GraphWidget(title="Failure rate", left=[rate], left_y_axis=cw.YAxisProps(min=0, max=1), width=8),
            cw.GraphWidget(
                title="Queue",
                left=[oldest.with_(period=minute)],
                right=[self.queue_metric(m.QUEUED_JOBS, "Maximum").with_(period=minute)],
                width=8,
            ),
            cw.GraphWidget(
                title="Job duration and queue wait (p50, p90)",
                left=[self.job_metric(m.JOB_DURATION, SHORT, statistic) for statistic in ("p50", "p90")]
                + [self.job_metric(m.QUEUE_WAIT, SHORT, statistic) for statistic in ("p50", "p90")],
                width=12,
            ),
            cw.GraphWidget(
                title="Encode CPU-seconds and bytes",
                left=[self.job_metric(m.ENCODE_CPU_SECONDS, SHORT)],
                right=[self.job_metric(m.SOURCE_BYTES, SHORT), self.job_metric(m.OUTPUT_BYTES, SHORT)],
                width=12,
            ),
            cw.GraphWidget(
                title="Dead-letter queues",
                left=[
                    q.metric_approximate_number_of_messages_visible(period=SHORT, statistic="Maximum", label=name)
                    for name, q in dead_letter_queues.items()
                ],
                width=8,
            ),
            cw.GraphWidget(
                title="Lambda throttles and errors",
                left=[fn.metric_throttles(period=SHORT, statistic="Sum", label=name) for name, fn in functions.items()],
                right=[fn.metric_errors(period=SHORT, statistic="Sum", label=name) for name, fn in functions.items()],
                width=8,
            ),
            cw.GraphWidget(
                title="API and workflow",
                left=[server_errors, api_stage.metric_client_error(period=SHORT, statistic="Sum")],
                right=[executions_failed, state_machine.metric_succeeded(period=FAILURE_WINDOW, statistic="Sum")],
                width=8,
            ),
        )

    def job_metric(self, name: str, period: Duration, statistic: str = "Sum") -> cw.Metric:
        """A job metric under `service` alone (what PublishEvents writes for every job)."""
        return cw.Metric(
            namespace=self.namespace,
            metric_name=name,
            dimensions_map={m.SERVICE_DIMENSION: self.service},
            period=period,
            statistic=statistic,
            label=f"{name} {statistic}" if statistic != "Sum" else name,
        )

    def queue_metric(self, name: str, statistic: str) -> cw.Metric:
        return self.job_metric(name, SHORT, statistic)

    def _alarm(
        self,
        id: str,
        metric: cw.IMetric,
        threshold: float,
        description: str,
        *,
        comparison: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        missing: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING,
    ) -> cw.Alarm:
        alarm = cw.Alarm(
            self,
            id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=comparison,
            treat_missing_data=missing,
            alarm_description=description,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        self.alarms.append(alarm)
        return alarm


_ENDS = (m.JOBS_COMPLETED, m.JOBS_FAILED, m.JOBS_CANCELLED)
