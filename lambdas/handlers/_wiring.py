"""The adapters and configuration handlers pass to the domain, built once per execution environment."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Protocol

from botocore.config import Config

from lambdas import aws
from lambdas.api.captions import CaptionConfig, CaptionService
from lambdas.api.clips import ClipService
from lambdas.api.config import ApiConfig
from lambdas.api.downloads import DownloadService
from lambdas.api.jobs import JobService
from lambdas.api.operators import OperatorService
from lambdas.api.uploads import UploadService
from lambdas.auth.dynamodb import DynamoDBTokenStore
from lambdas.auth.ports import TokenStore
from lambdas.cost.estimate import CostConfig, FunctionMemory
from lambdas.feed.bus import EventBridgeFeed
from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.ports import JobRepository
from lambdas.media.chunking import WorkerBudget
from lambdas.media.policy import ValidationPolicy
from lambdas.media.presets import parse_presets
from lambdas.metrics.emf import EmfMetrics
from lambdas.notify.ses import SesMailer
from lambdas.pipeline.config import PipelineConfig
from lambdas.playback.ports import UrlSigner
from lambdas.playback.s3 import S3ManifestReader, S3PresignedUrls
from lambdas.playback.secrets import SecretsManagerReader
from lambdas.playback.service import PlaybackConfig, PrivatePlayback
from lambdas.playback.tokens import PlayTokens
from lambdas.queue.config import QueueConfig
from lambdas.queue.dynamodb import DynamoDBQueueStore
from lambdas.queue.eventbridge import EventBridgeSignals
from lambdas.queue.ports import QueueStore
from lambdas.queue.scheduler import Scheduler
from lambdas.queue.sqs import SqsDeadLetters
from lambdas.quotas.dynamodb import DynamoDBQuotaStore
from lambdas.settings import get_settings
from lambdas.storage.ports import MediaStore
from lambdas.storage.s3 import S3MediaStore
from lambdas.storage.s3_links import S3DownloadLinks
from lambdas.storage.s3_objects import S3SmallObjects
from lambdas.storage.s3_uploads import S3UploadStore
from lambdas.webhooks.config import WebhookConfig
from lambdas.webhooks.dynamodb import DynamoDBWebhookStore
from lambdas.webhooks.retry import DEFAULT_SCHEDULE, parse_schedule
from lambdas.webhooks.service import WebhookService
from lambdas.webhooks.sqs import SqsDeliveryQueue
from lambdas.webhooks.transport import PinnedTransport
from lambdas.workflow.stepfunctions import StepFunctionsWorkflow


class _Context(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@cache
def job_repository() -> JobRepository:
    settings = get_settings()
    return DynamoDBJobRepository(
        aws.client("dynamodb"), settings.jobs_table, retention=timedelta(days=settings.job_ttl_days)
    )


@cache
def media_store() -> MediaStore:
    return S3MediaStore(aws.client("s3"))


@cache
def pipeline_config() -> PipelineConfig:
    settings = get_settings()
    return PipelineConfig(
        uploads_bucket=settings.uploads_bucket,
        outputs_bucket=settings.outputs_bucket,
        playback_base_url=settings.playback_base_url,
        segment_seconds=settings.hls_segment_seconds,
        thumbnail_count=settings.thumbnail_count,
        time_margin_s=settings.ffmpeg_time_margin_s,
        retention_days=settings.job_ttl_days,
        # The deployment's limits, which stacks/config.py checked against its disks and timeouts.
        policy=ValidationPolicy(max_size_bytes=settings.max_upload_bytes, max_duration_s=settings.max_duration_s),
        transcode_concurrency=settings.transcode_concurrency,
        max_chunk_segments=settings.max_chunk_segments,
        worker=WorkerBudget(timeout_s=settings.worker_timeout_s, vcpus=settings.worker_vcpus),
        cost=CostConfig(
            region=settings.aws_region,
            architecture=settings.lambda_architecture,
            memory=FunctionMemory(
                EncodeChunk=settings.transcode_memory_mb,
                MakeThumbnails=settings.transcode_memory_mb,
                PackageOutputs=settings.transcode_memory_mb,
            ),
            worker_vcpus=settings.worker_vcpus,
        ),
    )


@cache
def queue_config() -> QueueConfig:
    settings = get_settings()
    return QueueConfig(
        max_running_jobs=settings.max_running_jobs,
        max_running_jobs_per_user=settings.max_running_jobs_per_user,
        priority_aging_minutes=settings.priority_aging_minutes,
        max_queued_jobs_per_user=settings.max_queued_jobs_per_user,
        max_uploads_per_hour=settings.max_uploads_per_hour,
        start_grace_seconds=settings.start_grace_seconds,
        start_give_up_seconds=settings.start_give_up_seconds,
        upload_expiry_hours=settings.upload_expiry_hours,
    )


@cache
def queue_store() -> QueueStore:
    settings = get_settings()
    return DynamoDBQueueStore(
        aws.client("dynamodb"), settings.jobs_table, retention=timedelta(days=settings.job_ttl_days)
    )


@cache
def workflow() -> StepFunctionsWorkflow:
    return StepFunctionsWorkflow(aws.client("stepfunctions"), get_settings().state_machine_arn)


@cache
def scheduler() -> Scheduler:
    return Scheduler(queue_store(), job_repository(), workflow(), S3UploadStore(aws.client("s3")), queue_config())


def rendition_names() -> tuple[str, ...]:
    return tuple(rung.name for rung in pipeline_config().ladder.rungs)


@cache
def token_store() -> TokenStore:
    return DynamoDBTokenStore(aws.client("dynamodb"), get_settings().jobs_table)


@cache
def api_config() -> ApiConfig:
    settings = get_settings()
    return ApiConfig(
        uploads_bucket=settings.uploads_bucket,
        outputs_bucket=settings.outputs_bucket,
        max_upload_bytes=settings.max_upload_bytes,
        presign_expiry_seconds=settings.presign_expiry_seconds,
        queue=queue_config(),
        long_poll_max_seconds=settings.long_poll_max_seconds,
        presets=parse_presets(settings.presets),
        max_clip_seconds=settings.max_clip_seconds,
        private_playback=bool(settings.private_url_signer),
    )


@cache
def download_service() -> DownloadService:
    presigner = aws.client_with("s3", Config(signature_version="s3v4"))
    return DownloadService(job_repository(), S3DownloadLinks(presigner), get_settings().outputs_bucket)


@cache
def upload_service() -> UploadService:
    # Presigned URLs must be Signature Version 4 (the only kind S3 accepts in newer regions).
    presigner = aws.client_with("s3", Config(signature_version="s3v4"))
    return UploadService(
        job_repository(), S3UploadStore(aws.client("s3"), presigner), api_config(), quotas=quota_store()
    )


@cache
def caption_service() -> CaptionService:
    settings = get_settings()
    presigner = aws.client_with("s3", Config(signature_version="s3v4"))
    config = CaptionConfig(
        uploads_bucket=settings.uploads_bucket,
        outputs_bucket=settings.outputs_bucket,
        playback_base_url=settings.playback_base_url,
    )
    return CaptionService(job_repository(), S3SmallObjects(aws.client("s3"), presigner), config)


@cache
def clip_service() -> ClipService:
    signals = EventBridgeSignals(aws.client("events"), get_settings().event_bus_name)
    return ClipService(job_repository(), media_store(), api_config(), quotas=quota_store(), signals=signals)


@cache
def quota_store() -> DynamoDBQuotaStore:
    return DynamoDBQuotaStore(aws.client("dynamodb"), get_settings().jobs_table)


@cache
def job_service() -> JobService:
    signals = EventBridgeSignals(aws.client("events"), get_settings().event_bus_name)
    return JobService(
        job_repository(),
        workflow(),
        media_store(),
        S3UploadStore(aws.client("s3")),
        api_config(),
        queue=queue_store(),
        signals=signals,
        playback=private_playback(),
    )


@cache
def operator_service() -> OperatorService:
    letters = SqsDeadLetters(aws.client("sqs"), get_settings().start_failures_queue_url)
    return OperatorService(queue_store(), letters, throttled=quota_store().refusals_since, config=queue_config())


@cache
def webhook_config() -> WebhookConfig:
    settings = get_settings()
    return WebhookConfig(
        allow_insecure_targets=settings.webhook_allow_insecure_targets,
        retry_schedule=parse_schedule(settings.webhook_retry_schedule)
        if settings.webhook_retry_schedule
        else DEFAULT_SCHEDULE,
        timeout_s=settings.webhook_timeout_seconds,
        disable_after_days=settings.webhook_disable_after_days,
        max_endpoints=settings.max_webhooks_per_user,
    )


@cache
def webhook_store() -> DynamoDBWebhookStore:
    return DynamoDBWebhookStore(aws.client("dynamodb"), get_settings().jobs_table)


@cache
def delivery_queue() -> SqsDeliveryQueue:
    return SqsDeliveryQueue(aws.client("sqs"), get_settings().webhook_queue_url)


@cache
def webhook_transport() -> PinnedTransport:
    return PinnedTransport(webhook_config().egress)


@cache
def feed() -> EventBridgeFeed:
    return EventBridgeFeed(aws.client("events"), get_settings().feed_bus_name)


@cache
def metrics() -> EmfMetrics:
    settings = get_settings()
    return EmfMetrics(settings.metrics_namespace, settings.metrics_service)


@cache
def mailer() -> SesMailer | None:
    """The owners' email sender; None where the deployment names no sender."""
    sender = get_settings().notification_sender
    return SesMailer(aws.client("ses"), sender) if sender else None


@cache
def webhook_service() -> WebhookService:
    return WebhookService(webhook_store(), delivery_queue(), webhook_config())


@cache
def private_playback() -> PrivatePlayback | None:
    """Private jobs' signed URLs and manifests; None where the deployment has no signer (private jobs refused)."""
    settings = get_settings()
    if not settings.private_url_signer:
        return None
    secrets = SecretsManagerReader(aws.client("secretsmanager"))
    signer: UrlSigner
    if settings.private_url_signer == "cloudfront":
        # Imported here: only this signer needs `cryptography`, and only the functions that sign import it.
        from lambdas.playback.cloudfront import CloudFrontUrlSigner

        key = settings.cloudfront_private_key_secret
        signer = CloudFrontUrlSigner(
            settings.playback_base_url, settings.cloudfront_key_pair_id, lambda: secrets.read(key)
        )
    else:
        signer = S3PresignedUrls(aws.client_with("s3", Config(signature_version="s3v4")), settings.outputs_bucket)
    return PrivatePlayback(
        PlaybackConfig(play_base_url=settings.play_base_url, url_ttl_s=settings.private_url_ttl_seconds),
        signer,
        cache(lambda: PlayTokens(secrets.read(settings.play_token_secret).encode())),
        S3ManifestReader(aws.client("s3"), settings.outputs_bucket),
    )


def time_budget(context: _Context) -> float:
    """Seconds left in this invocation (the domain keeps a margin to report a failure in)."""
    return context.get_remaining_time_in_millis() / 1000
