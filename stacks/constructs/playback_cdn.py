"""CloudFront in front of the outputs bucket (not emulated locally: the S3 endpoint stands in).

Private jobs' outputs (lambdas/keys.py PRIVATE_PREFIX) have their own behaviour, first so that no wider pattern
(`*.m3u8`) serves them: it trusts only the deployment's key group (signed URLs), or, without a key, refuses every
request at the edge. Either way nothing under `private/` is public.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lambdas.keys import CONSOLE_PREFIX, PRIVATE_PREFIX
from stacks.nag import acknowledge

# What the `private/*` behaviour runs where the deployment has no signing key: nothing there may be served.
DENY_ALL = "function handler(event) { return { statusCode: 403, statusDescription: 'Forbidden' }; }"


class PlaybackCdn(Construct):
    """HTTPS only, origin access control, short TTL for playlists and long TTL for segments, CORS for players."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        outputs: s3.IBucket,
        private_public_key: str | None = None,
        cors_origins: list[str] | None = None,
    ) -> None:
        """`private_public_key`: the PEM public key of private jobs' signed URLs (DeploymentConfig);
        `cors_origins`: the pages whose players may read the outputs (DeploymentConfig.cors_allowed_origins)."""
        super().__init__(scope, id)
        origin = origins.S3BucketOrigin.with_origin_access_control(outputs)
        cors = cloudfront.ResponseHeadersPolicy(
            self,
            "PlayerCors",
            cors_behavior=cloudfront.ResponseHeadersCorsBehavior(
                access_control_allow_credentials=False,
                access_control_allow_headers=["*"],
                access_control_allow_methods=["GET", "HEAD"],
                access_control_allow_origins=cors_origins or ["*"],
                origin_override=True,
            ),
        )
        # VOD playlists do not change once published, but a re-run (retry) rewrites them: keep them short.
        playlists = cloudfront.CachePolicy(
            self,
            "Playlists",
            default_ttl=Duration.seconds(10),
            min_ttl=Duration.seconds(0),
            max_ttl=Duration.minutes(1),
            enable_accept_encoding_gzip=True,
        )
        segments = cloudfront.CachePolicy(
            self,
            "Segments",
            default_ttl=Duration.days(7),
            min_ttl=Duration.days(1),
            max_ttl=Duration.days(365),
        )

        def behavior(policy: cloudfront.ICachePolicy, **extra: object) -> cloudfront.BehaviorOptions:
            return cloudfront.BehaviorOptions(
                origin=origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=policy,
                response_headers_policy=cors,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS,
                **extra,  # type: ignore[arg-type]  # BehaviorOptions' keywords, passed through
            )

        self.public_key: cloudfront.PublicKey | None = None
        if private_public_key:
            self.public_key = cloudfront.PublicKey(
                self, "PrivatePlaybackKey", encoded_key=private_public_key, comment="vodpipe private playback"
            )
            key_group = cloudfront.KeyGroup(self, "PrivatePlayback", items=[self.public_key])
            # Signed URLs are per object and expire: the cache key is the path, the signature is checked first.
            private = behavior(segments, trusted_key_groups=[key_group])
        else:
            deny = cloudfront.Function(
                self,
                "DenyPrivate",
                code=cloudfront.FunctionCode.from_inline(DENY_ALL),
                runtime=cloudfront.FunctionRuntime.JS_2_0,
                comment="vodpipe: no signing key, so private outputs are never served",
            )
            private = behavior(
                segments,
                function_associations=[
                    cloudfront.FunctionAssociation(
                        function=deny, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
                    )
                ],
            )

        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="vodpipe playback",
            default_behavior=behavior(segments),
            # Evaluated in this order: `private/*` must come before any pattern that would match its files.
            additional_behaviors={
                f"{PRIVATE_PREFIX}*": private,
                "*.m3u8": behavior(playlists),
                "*.vtt": behavior(playlists),
                # The web console (console/, published by `vodpipe admin publish-console`): its names are not
                # content-hashed, so it is cached as briefly as a playlist.
                f"{CONSOLE_PREFIX}*": behavior(playlists),
            },
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
        )
        acknowledge(
            self.distribution,
            {
                "AwsSolutions-CFR1": "Geo restrictions are a per-deployment business decision.",
                "AwsSolutions-CFR2": "WAF is an account-level choice; attach a web ACL per deployment.",
                "AwsSolutions-CFR3": "Standard logs need an ACL-enabled bucket; enable v2 log delivery per deployment.",
                "AwsSolutions-CFR4": "Without a custom domain CloudFront's default certificate allows TLSv1; set a "
                "domain and certificate per deployment to enforce TLSv1.2_2021.",
            },
        )

    @property
    def key_pair_id(self) -> str | None:
        """The id CloudFront signed URLs name (Key-Pair-Id); None without a signing key."""
        return self.public_key.public_key_id if self.public_key else None

    @property
    def base_url(self) -> str:
        return f"https://{self.distribution.distribution_domain_name}"
