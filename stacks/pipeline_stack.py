"""The processing pipeline and the API: functions, layers, the workflow, the REST API."""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, CfnOutput, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import PipelineConfig
from stacks.constructs.jobs_api import JobsApi
from stacks.constructs.media_layers import MediaLayers
from stacks.constructs.python_functions import PythonFunctions
from stacks.constructs.transcode_workflow import TranscodeWorkflow
from stacks.constructs.upload_buckets import UPLOAD_PREFIX
from stacks.nag import acknowledge, resource_finding
from stacks.storage_stack import StorageStack

OUTPUT_PREFIX = "outputs/"


class PipelineStack(Stack):
    """Stateless: safe to destroy and redeploy; reads and writes the storage stack's resources."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        storage: StorageStack,
        config: PipelineConfig,
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
        register = fns.add("RegisterJob", handler="register_job", description="S3 event -> job PROCESSING")
        probe = fns.add(
            "ProbeSource",
            handler="probe_source",
            description="ffprobe, validate and plan the ladder",
            memory_mb=1024,
            timeout=Duration.minutes(2),
            ephemeral_mb=config.transcode_ephemeral_mb,
            layers=ffmpeg,
        )
        transcode = fns.add(
            "TranscodeRendition", handler="transcode_rendition", description="one HLS rendition", **heavy
        )
        thumbnails = fns.add(
            "MakeThumbnails", handler="make_thumbnails", description="poster, thumbnails, sprite", **heavy
        )
        package = fns.add("PackageOutputs", handler="package_outputs", description="master playlist and MP4", **heavy)
        publish = fns.add("PublishJob", handler="publish_job", description="job -> COMPLETED")

        # Least privilege, written out: sources are read under uploads/, outputs written under outputs/,
        # job items read and written; workers delete only outputs, never sources.
        sources = uploads.arn_for_objects(f"{UPLOAD_PREFIX}*")
        results = outputs.arn_for_objects(f"{OUTPUT_PREFIX}*")
        job_items = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"]
        for fn in (register, probe, transcode, thumbnails, package, publish):
            _allow(fn, job_items, table.table_arn)
        for fn in (register, probe, transcode, thumbnails, package):
            _allow(fn, ["s3:GetObject"], sources)
        for fn in (transcode, thumbnails, package):
            _allow(fn, ["s3:PutObject", "s3:GetObject"], results)
            # A step whose job was cancelled while it uploaded withdraws its own files (lambdas/pipeline/common.py).
            _allow(fn, ["s3:DeleteObject"], results)
            _allow(fn, ["s3:ListBucket"], outputs.bucket_arn)

        self.workflow = TranscodeWorkflow(
            self,
            "Workflow",
            functions={
                "RegisterJob": register,
                "ProbeSource": probe,
                "TranscodeRendition": transcode,
                "MakeThumbnails": thumbnails,
                "PackageOutputs": package,
                "PublishJob": publish,
            },
            table=table,
            uploads=uploads,
            transcode_concurrency=config.transcode_concurrency,
            log_retention=retention,
            removal_policy=removal_policy,
        )

        api_fn = fns.add(
            "JobsApi",
            handler="jobs_api",
            description="REST API: uploads and jobs",
            environment={
                "STATE_MACHINE_ARN": self.workflow.state_machine.state_machine_arn,
                "MAX_UPLOAD_BYTES": str(config.max_upload_bytes),
                "PRESIGN_EXPIRY_SECONDS": str(config.presign_expiry_s),
            },
        )
        authorizer_fn = fns.add("Authorizer", handler="authorize", description="credential -> user")
        executions = self.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{self.workflow.state_machine.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        owner_index = f"{table.table_arn}/index/*"
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
        _allow(api_fn, ["s3:ListBucket"], outputs.bucket_arn)
        _allow(api_fn, ["states:StartExecution"], self.workflow.state_machine.state_machine_arn)
        _allow(api_fn, ["states:StopExecution"], executions)
        self.api = JobsApi(
            self,
            "JobsApi",
            handler=api_fn,
            authorizer=authorizer_fn,
            log_retention=retention,
            removal_policy=removal_policy,
        )

        acknowledge(
            self,
            {
                resource_finding(self, sources): "Object keys are per job: access is scoped to the uploads/ prefix.",
                resource_finding(self, results): "Object keys are per job: access is scoped to the outputs/ prefix.",
                resource_finding(self, owner_index): "Query only, on the jobs table's indexes (owner, status).",
                resource_finding(self, executions): "Cancel stops executions of this state machine only.",
            },
        )

        CfnOutput(self, "PlaybackBaseUrl", value=playback_base_url)
        CfnOutput(self, "StateMachineArn", value=self.workflow.state_machine.state_machine_arn)
        CfnOutput(self, "DispatcherArn", value=self.workflow.dispatcher.state_machine_arn)
        CfnOutput(self, "ApiId", value=self.api.api.rest_api_id)
        CfnOutput(self, "ApiStage", value=self.api.api.deployment_stage.stage_name)
        CfnOutput(self, "ApiUrl", value=self.api.url)
        CfnOutput(self, "StartFailuresQueueUrl", value=self.workflow.dead_letters.queue_url)


def _allow(fn: lambda_.Function, actions: list[str], *resources: str) -> None:
    fn.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=list(resources)))


def _retention_name(days: int) -> str:
    names = {1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH"}
    names |= {60: "TWO_MONTHS", 90: "THREE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR"}
    if days not in names:
        raise ValueError(f"log_retention_days must be one of {sorted(names)}")
    return names[days]
