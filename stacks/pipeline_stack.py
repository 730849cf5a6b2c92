"""The processing pipeline and the API: functions, layers, the workflow, the REST API."""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, CfnOutput, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas import keys
from stacks.config import MB_PER_VCPU, PROBE_TIMEOUT_S, DeploymentConfig
from stacks.constructs.job_events import JobEvents
from stacks.constructs.job_scheduler import JobScheduler
from stacks.constructs.jobs_api import JobsApi
from stacks.constructs.media_layers import MediaLayers
from stacks.constructs.monitoring import Monitoring
from stacks.constructs.private_playback import PrivatePlayback
from stacks.constructs.python_functions import PythonFunctions
from stacks.constructs.transcode_workflow import TranscodeWorkflow
from stacks.constructs.webhooks import Webhooks
from stacks.nag import acknowledge, resource_finding
from stacks.s3_listing import listing_statement
from stacks.storage_stack import StorageStack


class PipelineStack(Stack):
    """Stateless: safe to destroy and redeploy; reads and writes the storage stack's resources."""

    def __init__(  # noqa: PLR0915 - the stack reads top to bottom as its wiring; each concern is a construct
        self,
        scope: Construct,
        id: str,
        *,
        storage: StorageStack,
        config: DeploymentConfig,
        removal_policy: RemovalPolicy,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        refs = storage.refs(self)
        uploads, outputs, table = refs.uploads, refs.outputs, refs.table
        retention = logs.RetentionDays(_retention_name(config.log_retention_days))
        playback_base_url = (
            Fn.join("", [config.playback_s3_endpoint.rstrip("/"), "/", outputs.bucket_name])
            if config.playback_s3_endpoint
            else refs.playback_base_url
        )

        fns = PythonFunctions(
            self,
            "Functions",
            environment={
                "JOBS_TABLE": table.table_name,
                "UPLOADS_BUCKET": uploads.bucket_name,
                "OUTPUTS_BUCKET": outputs.bucket_name,
                "PLAYBACK_BASE_URL": playback_base_url,
                "JOB_TTL_DAYS": str(config.job_ttl_days),
                "HLS_SEGMENT_SECONDS": f"{config.segment_seconds:g}",
                "MAX_UPLOAD_BYTES": str(config.max_upload_bytes),
                "MAX_DURATION_S": f"{config.max_duration_s:g}",
                "MAX_CLIP_SECONDS": f"{config.max_clip_seconds:g}",
                "CORS_ALLOWED_ORIGINS": ",".join(config.cors_allowed_origins),
                "TRANSCODE_CONCURRENCY": str(config.transcode_concurrency),
                "MAX_CHUNK_SEGMENTS": str(config.max_chunk_segments),
                "WORKER_TIMEOUT_S": str(config.transcode_timeout_s),
                "WORKER_VCPUS": f"{config.vcpus:.3f}",
                "TRANSCODE_MEMORY_MB": str(config.transcode_memory_mb),  # cost per job (lambdas/cost)
                "MAX_RUNNING_JOBS": str(config.max_running_jobs),
                "MAX_RUNNING_JOBS_PER_USER": str(config.max_running_jobs_per_user),
                "PRIORITY_AGING_MINUTES": f"{config.priority_aging_minutes:g}",
                "MAX_QUEUED_JOBS_PER_USER": str(config.max_queued_jobs_per_user),
                "MAX_UPLOADS_PER_HOUR": str(config.max_uploads_per_hour),
                "START_GRACE_SECONDS": f"{config.start_grace_s:g}",
                "START_GIVE_UP_SECONDS": f"{config.start_give_up_s:g}",
                "UPLOAD_EXPIRY_HOURS": f"{config.upload_expiry_hours:g}",
                "WEBHOOK_ALLOW_INSECURE_TARGETS": str(config.webhook_allow_insecure_targets).lower(),
                "WEBHOOK_RETRY_SCHEDULE": ",".join(f"{s:g}" for s in config.webhook_retry_schedule or ()),
                "WEBHOOK_TIMEOUT_SECONDS": f"{config.webhook_timeout_s:g}",
                "WEBHOOK_DISABLE_AFTER_DAYS": f"{config.webhook_disable_after_days:g}",
                "MAX_WEBHOOKS_PER_USER": str(config.max_webhooks_per_user),
                "POWERTOOLS_METRICS_NAMESPACE": config.project,
                "LOG_LEVEL": "INFO",
            },
            log_retention=retention,
            removal_policy=removal_policy,
        )
        media = MediaLayers(self, "Media")
        ffmpeg = (media.ffmpeg,)
        heavy: dict[str, Any] = {
            "memory_mb": config.transcode_memory_mb,
            "timeout": Duration.seconds(config.transcode_timeout_s),
            "ephemeral_mb": config.transcode_ephemeral_mb,
            "layers": ffmpeg,
        }
        register = fns.add("RegisterJob", handler="register_job", description="admission -> this execution's job")
        # Downloads the whole source once and cuts it by stream copy: I/O, not CPU; its disk holds the source.
        probe = fns.add(
            "ProbeSource",
            handler="probe_source",
            description="probe, validate, plan chunks, cut pieces",
            memory_mb=MB_PER_VCPU,  # one full vCPU for the stream copies and the audio decode
            timeout=Duration.seconds(PROBE_TIMEOUT_S),
            ephemeral_mb=config.transcode_ephemeral_mb,
            layers=ffmpeg,
        )
        encode = fns.add("EncodeChunk", handler="encode_chunk", description="one work item -> CMAF segments", **heavy)
        thumbnails = fns.add(
            "MakeThumbnails", handler="make_thumbnails", description="poster, thumbnails, sprite", **heavy
        )
        package = fns.add("PackageOutputs", handler="package_outputs", description="HLS, DASH and MP4", **heavy)
        publish = fns.add("PublishJob", handler="publish_job", description="job -> COMPLETED")

        # Least privilege, written out: sources are read under uploads/, pieces and plans live under work/
        # (uploads bucket, never served), outputs are written under outputs/, job items read and written;
        # nothing deletes a source.
        sources = uploads.arn_for_objects(f"{keys.UPLOAD_PREFIX}*")
        work = uploads.arn_for_objects(f"{keys.WORK_PREFIX}*")
        results = outputs.arn_for_objects(f"{keys.OUTPUT_PREFIX}*")
        job_items = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"]
        for fn in (register, probe, encode, thumbnails, package, publish):
            _allow(fn, job_items, table.table_arn)
        for fn in (probe, thumbnails):
            _allow(fn, ["s3:GetObject"], sources)
        _allow(probe, ["s3:PutObject", "s3:DeleteObject"], work)  # pieces and the plan; a new attempt starts clean
        _allow(encode, ["s3:GetObject", "s3:PutObject"], work)  # its piece and the plan in, its result out
        _allow(package, ["s3:GetObject", "s3:DeleteObject"], work)  # results in; the attempt's work removed
        # Every reader of the uploads bucket may list the prefixes it reads: S3 answers a missing key 404 NoSuchKey
        # only to a caller allowed s3:ListBucket on the bucket, to others 403 AccessDenied, so a source that is gone
        # would read as a permissions error. Probe and package also list an attempt's work/ themselves.
        _allow_listing(probe, uploads.bucket_arn, keys.UPLOAD_PREFIX, keys.WORK_PREFIX)
        _allow_listing(thumbnails, uploads.bucket_arn, keys.UPLOAD_PREFIX)
        for fn in (encode, package):
            _allow_listing(fn, uploads.bucket_arn, keys.WORK_PREFIX)
        for fn in (probe, encode, thumbnails, package):
            _allow(fn, ["s3:PutObject", "s3:GetObject"], results)
            # A new attempt clears what an old one left; a step whose job was cancelled while it uploaded
            # withdraws its own files (lambdas/pipeline/job_guard.py).
            _allow(fn, ["s3:DeleteObject"], results)
            _allow(fn, ["s3:ListBucket"], outputs.bucket_arn)

        bus = events.EventBus.from_event_bus_name(self, "Bus", "default")
        self.workflow = TranscodeWorkflow(
            self,
            "Workflow",
            functions={
                "RegisterJob": register,
                "ProbeSource": probe,
                "EncodeChunk": encode,
                "MakeThumbnails": thumbnails,
                "PackageOutputs": package,
                "PublishJob": publish,
            },
            table=table,
            uploads=uploads,
            work_objects=work,
            transcode_concurrency=config.transcode_concurrency,
            event_bus=bus,
            log_retention=retention,
            removal_policy=removal_policy,
        )

        machine = self.workflow.state_machine
        executions = self.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{machine.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        indexes = f"{table.table_arn}/index/*"
        schedule_fn = _schedule_function(
            fns,
            machine,
            table_arn=table.table_arn,
            uploads_arn=uploads.bucket_arn,
            sources=sources,
            executions=executions,
        )
        self.scheduler = JobScheduler(
            self,
            "Scheduler",
            function=schedule_fn,
            uploads=uploads,
            event_bus=bus,
            tick_minutes=config.scheduler_tick_minutes,
        )

        feed, hooks = _events(self, fns, table, config)
        api_fn = fns.add(
            "JobsApi",
            handler="jobs_api",
            description="REST API: uploads, jobs and webhooks",
            # Long-polls (GET /jobs/{id}?wait=25) answer within API Gateway's 29 s.
            timeout=Duration.seconds(29),
            environment={
                "STATE_MACHINE_ARN": machine.state_machine_arn,
                "PRESIGN_EXPIRY_SECONDS": str(config.presign_expiry_s),
                "EVENT_BUS_NAME": bus.event_bus_name,
                "START_FAILURES_QUEUE_URL": self.scheduler.dead_letters.queue_url,
                "WEBHOOK_QUEUE_URL": hooks.queue.queue_url,
                # The deployer's presets (validated at synth: stacks/config.py); the pipeline reads each job's own.
                "PRESETS": config.presets_env,
            },
        )
        authorizer_fn = fns.add("Authorizer", handler="authorize", description="credential -> user")
        owner_index = indexes
        # Exactly the calls the API makes: items read and written on the table, listings and statistics
        # queried on its indexes.
        _allow(api_fn, job_items, table.table_arn)
        _allow(api_fn, ["dynamodb:Query"], owner_index)
        _allow(authorizer_fn, ["dynamodb:GetItem"], table.table_arn)
        # Presigning needs the caller to hold the permissions the URL grants (UploadPart is s3:PutObject);
        # create/complete/abort/list of the multipart upload are the API's own calls. No read of sources.
        _allow(api_fn, ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"], sources)
        # Cancel removes a job's partial outputs: list them, delete them.
        _allow(api_fn, ["s3:DeleteObject"], results)
        # Download links (GET /jobs/{id}/downloads/{name}) are presigned GETs: they carry the signer's permission.
        _allow(api_fn, ["s3:GetObject"], results)
        _allow(api_fn, ["s3:ListBucket"], outputs.bucket_arn)
        # Captions (lambdas/api/captions.py): the caption file its owner uploaded is read, then removed; the
        # WebVTT track, its playlist and the edited manifests are written beside the job's stream.
        caption_sources = uploads.arn_for_objects(f"{keys.UPLOAD_PREFIX}*/captions/*")
        streams = [outputs.arn_for_objects(f"{prefix}*/cmaf/*") for prefix in (keys.OUTPUT_PREFIX, keys.PRIVATE_PREFIX)]
        _allow(api_fn, ["s3:GetObject", "s3:DeleteObject"], caption_sources)
        _allow(api_fn, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], *streams)
        # A clip (lambdas/api/clips.py) checks that its parent's source is still stored: a HEAD of the source
        # object only (HeadObject is authorised by s3:GetObject), never of pieces or captions.
        upload_sources = uploads.arn_for_objects(f"{keys.UPLOAD_PREFIX}*/*/{keys.SOURCE_NAME}")
        _allow(api_fn, ["s3:GetObject"], upload_sources)
        # A parent's source that is gone must answer 404 (the clip's 409), not 403: listing under uploads/ only.
        _allow_listing(api_fn, uploads.bucket_arn, keys.UPLOAD_PREFIX)
        _allow(api_fn, ["states:StopExecution"], executions)
        # A retry or a cancel wakes the scheduler; the health report reads the dead-letter queue's depth.
        _allow(api_fn, ["events:PutEvents"], bus.event_bus_arn)
        _allow(api_fn, ["sqs:GetQueueAttributes"], self.scheduler.dead_letters.queue_arn)
        # Webhook tests and replays are deliveries sent now.
        _allow(api_fn, ["sqs:SendMessage"], hooks.queue.queue_arn)
        self.api = JobsApi(
            self,
            "JobsApi",
            handler=api_fn,
            authorizer=authorizer_fn,
            rate_limit=config.api_rate_limit,
            burst_limit=config.api_burst_limit,
            cors_origins=config.cors_allowed_origins,
            cloud_watch_role=config.api_gateway_cloudwatch_role,
            log_retention=retention,
            removal_policy=removal_policy,
        )
        # Private jobs (Job.private): the steps' grants under private/, the play-token key, GET /play/… and the
        # signer's settings on the API (lambdas/playback).
        self.private = PrivatePlayback(
            self,
            "PrivatePlayback",
            config=config,
            fns=fns,
            outputs=outputs,
            writers=(probe, encode, thumbnails, package),
            api=api_fn,
            key_pair_id=Fn.import_value(storage.export_name("PlaybackKeyPairId")) if storage.cdn.key_pair_id else None,
            removal_policy=removal_policy,
        )
        self.private.serve(self.api.api)
        # Metrics, the dashboard and the alarms' topic (stacks/constructs/monitoring.py), over every function.
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            namespace=config.project,
            functions=dict(fns.functions),
            emitters=(fns.functions["PublishEvents"], schedule_fn),
            dead_letter_queues={
                "StartFailures": self.scheduler.dead_letters,
                "UnpublishedRecords": feed.unpublished,
                "UndeliveredNotifications": feed.failed_notifications,
                "WebhookDeliveryFailures": hooks.failures,
                "UnroutedEvents": hooks.unrouted,
            },
            api_stage=self.api.api.deployment_stage,
            state_machine=machine,
            alarm_emails=config.alarm_emails,
            failure_rate=config.alarm_failure_rate,
            oldest_queued_minutes=config.alarm_oldest_queued_minutes,
            removal_policy=removal_policy,
        )

        acknowledge(
            self,
            {
                resource_finding(self, sources): "Object keys are per job: access is scoped to the uploads/ prefix.",
                resource_finding(self, results): "Object keys are per job: access is scoped to the outputs/ prefix.",
                resource_finding(self, work): "Object keys are per job: access is scoped to the work/ prefix.",
                resource_finding(self, caption_sources): "Caption files only: uploads/<owner>/<job>/captions/.",
                resource_finding(self, upload_sources): "Source objects only (a clip HEADs its parent's source): "
                "uploads/<owner>/<job>/source.",
                **{
                    resource_finding(self, stream): "A job's stream (manifests, subtitles) only: <prefix>/<job>/cmaf/."
                    for stream in streams
                },
                resource_finding(self, owner_index): "Query only, on the jobs table's indexes (owner, status, queue).",
                resource_finding(self, executions): "Executions of this state machine only (cancel, repair).",
            },
        )

        CfnOutput(self, "PlaybackBaseUrl", value=playback_base_url)
        CfnOutput(self, "StateMachineArn", value=self.workflow.state_machine.state_machine_arn)
        CfnOutput(self, "SchedulerFunction", value=schedule_fn.function_name)
        CfnOutput(self, "ApiId", value=self.api.api.rest_api_id)
        CfnOutput(self, "ApiStage", value=self.api.api.deployment_stage.stage_name)
        CfnOutput(self, "ApiUrl", value=self.api.url)
        CfnOutput(self, "StartFailuresQueueUrl", value=self.scheduler.dead_letters.queue_url)
        CfnOutput(self, "EventBusName", value=feed.bus.event_bus_name)
        CfnOutput(self, "EventBusArn", value=feed.bus.event_bus_arn)
        CfnOutput(self, "NotificationsTopicArn", value=feed.topic.topic_arn)
        CfnOutput(self, "WebhookQueueUrl", value=hooks.queue.queue_url)
        CfnOutput(self, "UnpublishedRecordsQueueUrl", value=feed.unpublished.queue_url)
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn)
        CfnOutput(self, "DashboardName", value=self.monitoring.dashboard.dashboard_name)


def _events(
    scope: Construct, fns: PythonFunctions, table: dynamodb.ITable, config: DeploymentConfig
) -> tuple[JobEvents, Webhooks]:
    """The feed (stream -> bus -> topic and email) and the webhooks that read it."""
    publisher = fns.add("PublishEvents", handler="publish_events", description="table stream -> job events -> bus")
    mailer = fns.add("EmailOwner", handler="email_owner", description="a job ended -> its owner's email (SES)")
    # Repairs are log items: the publisher reads their job; the mailer reads the job for its owner's address.
    for fn in (publisher, mailer):
        _allow(fn, ["dynamodb:GetItem"], table.table_arn)
    feed = JobEvents(
        scope,
        "Feed",
        table=table,
        publisher=publisher,
        mailer=mailer,
        sender=config.notification_sender,
        create_sender_identity=config.notification_sender_identity,
        operator_emails=config.notification_emails,
    )
    # Both post (the router an event's first attempts, the sender the rest), side by side, each within the timeout.
    posting = Duration.seconds(max(30, round(config.webhook_timeout_s * 3)))
    router = fns.add(
        "RouteWebhooks",
        handler="route_webhooks",
        description="job event -> one delivery per endpoint, first attempts at once",
        timeout=posting,
    )
    sender = fns.add(
        "DeliverWebhooks",
        handler="deliver_webhooks",
        description="sign and post one delivery attempt; schedule the next",
        timeout=posting,
    )
    # Endpoints are read by owner, deliveries written idempotently (conditional put) and updated per attempt.
    webhook_items = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"]
    for fn in (router, sender):
        _allow(fn, webhook_items, table.table_arn)
    hooks = Webhooks(scope, "Webhooks", bus=feed.bus, router=router, sender=sender)
    return feed, hooks


def _schedule_function(
    fns: PythonFunctions, machine: sfn.StateMachine, *, table_arn: str, uploads_arn: str, sources: str, executions: str
) -> lambda_.Function:
    fn = fns.add(
        "ScheduleJobs",
        handler="schedule_jobs",
        description="queue: admissions into free slots, releases, repairs",
        environment={"STATE_MACHINE_ARN": machine.state_machine_arn},
    )
    # Admission and release are transactions of UpdateItems (a job and two counters); the waiting line and
    # the slot holders are index queries; uploads are read for their metadata (a direct S3 upload's job).
    _allow(fn, ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"], table_arn)
    _allow(fn, ["dynamodb:Query"], f"{table_arn}/index/*")
    _allow(fn, ["s3:GetObject", "s3:AbortMultipartUpload"], sources)
    _allow_listing(fn, uploads_arn, keys.UPLOAD_PREFIX)  # a source gone answers 404, not 403
    _allow(fn, ["states:StartExecution"], machine.state_machine_arn)
    _allow(fn, ["states:DescribeExecution"], executions)
    return fn


def _allow(fn: lambda_.Function, actions: list[str], *resources: str) -> None:
    fn.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=list(resources)))


def _allow_listing(fn: lambda_.Function, bucket_arn: str, *prefixes: str) -> None:
    """s3:ListBucket on the bucket for keys under `prefixes` only (stacks/s3_listing.py)."""
    fn.add_to_role_policy(listing_statement(bucket_arn, *prefixes))


def _retention_name(days: int) -> str:
    names = {1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH"}
    names |= {60: "TWO_MONTHS", 90: "THREE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR"}
    if days not in names:
        raise ValueError(f"log_retention_days must be one of {sorted(names)}")
    return names[days]
