"""Stateful resources: sources, outputs, the jobs table, and the CDN that serves the outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnOutput, Fn, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.jobs_table import JobsTable
from stacks.constructs.playback_cdn import PlaybackCdn
from stacks.constructs.upload_buckets import UploadBuckets


class StorageStack(Stack):
    """Lives longer than the pipeline: redeploying or replacing the pipeline never touches data.

    The CDN is here, beside the bucket it reads: origin access control writes the bucket policy,
    which would make a cross-stack cycle if the distribution lived in the pipeline stack.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        removal_policy: RemovalPolicy,
        private_public_key: str | None = None,
        cors_origins: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """`private_public_key`: DeploymentConfig.private_playback_public_key (None: private outputs never served);
        `cors_origins`: DeploymentConfig.cors_allowed_origins (None: any origin)."""
        super().__init__(scope, id, **kwargs)
        origins = cors_origins or ["*"]
        self.buckets = UploadBuckets(self, "Buckets", removal_policy=removal_policy, cors_origins=origins)
        self.jobs = JobsTable(self, "Jobs", removal_policy=removal_policy)
        self.cdn = PlaybackCdn(
            self,
            "Playback",
            outputs=self.buckets.outputs,
            private_public_key=private_public_key,
            cors_origins=origins,
        )

        # Explicit exports, read by the pipeline stack through StorageRefs: no hidden auto-exports that
        # pin the two stacks together, and stable names for cdk-nag findings.
        self._export("UploadsBucketName", self.buckets.uploads.bucket_name)
        self._export("UploadsBucketArn", self.buckets.uploads.bucket_arn)
        self._export("OutputsBucketName", self.buckets.outputs.bucket_name)
        self._export("OutputsBucketArn", self.buckets.outputs.bucket_arn)
        self._export("JobsTableName", self.jobs.table.table_name)
        self._export("JobsTableArn", self.jobs.table.table_arn)
        self._export("JobsTableStreamArn", self.jobs.table.table_stream_arn or "")
        self._export("PlaybackBaseUrl", self.cdn.base_url)
        self._export("DistributionId", self.cdn.distribution.distribution_id)
        if self.cdn.key_pair_id:
            self._export("PlaybackKeyPairId", self.cdn.key_pair_id)

    def _export(self, name: str, value: str) -> None:
        CfnOutput(self, name, value=value, export_name=self.export_name(name))

    def export_name(self, name: str) -> str:
        return f"{self.stack_name}-{name}"

    def refs(self, scope: Construct) -> StorageRefs:
        """The storage resources as seen from another stack (through the exports above)."""

        def imported(name: str) -> str:
            return Fn.import_value(self.export_name(name))

        return StorageRefs(
            uploads=s3.Bucket.from_bucket_attributes(
                scope,
                "Uploads",
                bucket_arn=imported("UploadsBucketArn"),
                bucket_name=imported("UploadsBucketName"),
            ),
            outputs=s3.Bucket.from_bucket_attributes(
                scope,
                "Outputs",
                bucket_arn=imported("OutputsBucketArn"),
                bucket_name=imported("OutputsBucketName"),
            ),
            table=dynamodb.Table.from_table_attributes(
                scope, "Jobs", table_arn=imported("JobsTableArn"), table_stream_arn=imported("JobsTableStreamArn")
            ),
            playback_base_url=imported("PlaybackBaseUrl"),
        )


@dataclass(frozen=True)
class StorageRefs:
    uploads: s3.IBucket
    outputs: s3.IBucket
    table: dynamodb.ITable
    playback_base_url: str
