"""The uploads and outputs buckets, and the access-log bucket both write to."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lambdas.keys import WORK_PREFIX
from stacks.nag import acknowledge


class UploadBuckets(Construct):
    """Private, encrypted, TLS-only buckets: clients PUT sources to `uploads`, players read `outputs`."""

    def __init__(
        self, scope: Construct, id: str, *, removal_policy: RemovalPolicy, cors_origins: list[str] | None = None
    ) -> None:
        """`cors_origins`: the pages that may upload (PUT parts, read their ETag) and play (GET outputs)."""
        super().__init__(scope, id)
        origins = cors_origins or ["*"]
        common: dict[str, Any] = {
            "encryption": s3.BucketEncryption.S3_MANAGED,
            "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
            "enforce_ssl": True,
            "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            "removal_policy": removal_policy,
        }
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            **{**common, "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_PREFERRED},
        )
        acknowledge(
            self.access_logs,
            {"AwsSolutions-S1": "This is the access-log bucket; logging it to itself would loop."},
        )
        self.uploads = s3.Bucket(
            self,
            "Uploads",
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="uploads/",
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.PUT, s3.HttpMethods.POST, s3.HttpMethods.GET],
                    allowed_origins=origins,
                    allowed_headers=["*"],
                    # Browsers need the ETag of each part to complete a multipart upload.
                    exposed_headers=["ETag"],
                    max_age=3000,
                )
            ],
            lifecycle_rules=[
                s3.LifecycleRule(abort_incomplete_multipart_upload_after=Duration.days(1)),
                # Pieces, plans and results of attempts that never reached PackageOutputs (which removes them).
                s3.LifecycleRule(prefix=WORK_PREFIX, expiration=Duration.days(2)),
            ],
            **common,
        )
        # CDK's event_bridge_enabled goes through a custom resource, which LocalStack never runs;
        # the L1 property is plain CloudFormation and works on both.
        cfn_uploads = self.uploads.node.default_child
        assert isinstance(cfn_uploads, s3.CfnBucket)
        cfn_uploads.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(event_bridge_enabled=True)
        )
        self.outputs = s3.Bucket(
            self,
            "Outputs",
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="outputs/",
            # Players on other origins (hls.js, Shaka, the console) fetch playlists and segments with XHR. On AWS
            # CloudFront's response-headers policy answers CORS; locally the bucket itself is the playback origin.
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.GET, s3.HttpMethods.HEAD],
                    allowed_origins=origins,
                    allowed_headers=["*"],
                    exposed_headers=["ETag", "Content-Length", "Content-Range"],
                    max_age=3000,
                )
            ],
            **common,
        )
