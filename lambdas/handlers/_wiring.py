"""The adapters and configuration handlers pass to the domain, built once per execution environment."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Protocol

from lambdas import aws
from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.ports import JobRepository
from lambdas.pipeline.common import PipelineConfig
from lambdas.settings import get_settings
from lambdas.storage.ports import MediaStore
from lambdas.storage.s3 import S3MediaStore


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
    )


def time_budget(context: _Context) -> float:
    """Seconds left in this invocation (the domain keeps a margin to report a failure in)."""
    return context.get_remaining_time_in_millis() / 1000
