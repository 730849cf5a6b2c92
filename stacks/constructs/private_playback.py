"""Private playback's wiring: the play-token key, the PlayManifest function behind GET /play/{job_id}/{file+},
the grants under `private/`, and the settings the API and PlayManifest sign with (lambdas/playback)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from lambdas.keys import PRIVATE_PREFIX
from stacks.config import MB_PER_VCPU, DeploymentConfig
from stacks.constructs.jobs_api import STAGE
from stacks.constructs.python_functions import PythonFunctions
from stacks.nag import acknowledge, resource_finding
from stacks.s3_listing import listing_statement

PLAY_RESOURCE = "play"


class PrivatePlayback(Construct):
    """`writers` (the pipeline steps) get under `private/` what they have under `outputs/`; `api` signs.

    Call `serve(api)` once the REST API exists: it adds the unauthenticated play route and tells both functions
    the URL the /play links start with (the API's id, not its stage: no dependency cycle through the methods).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: DeploymentConfig,
        fns: PythonFunctions,
        outputs: s3.IBucket,
        writers: Sequence[lambda_.Function],
        api: lambda_.Function,
        key_pair_id: str | None,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self._config, self._api = config, api
        self.objects = outputs.arn_for_objects(f"{PRIVATE_PREFIX}*")
        for fn in writers:
            _allow(fn, ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"], self.objects)
        # Cancel removes a private job's outputs as it does a public one's; its downloads (GET /jobs/{id}/downloads)
        # are S3 presigned GETs, which carry the API's own permission, as do the S3 signer's links.
        _allow(api, ["s3:DeleteObject", "s3:GetObject"], self.objects)
        self.signer = config.private_url_signer
        self.player: lambda_.Function | None = None
        # The policies are the functions' (elsewhere in the stack): acknowledged where they are.
        acknowledge(Stack.of(self), {resource_finding(self, self.objects): "Object keys are per job, under private/."})
        if not self.signer:
            return
        # The play tokens' HMAC key: random, made here, never leaves Secrets Manager and the two functions.
        self.token_key = secretsmanager.Secret(
            self,
            "PlayTokenKey",
            description="vodpipe: HMAC key of private playback links (GET /play)",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
            removal_policy=removal_policy,
        )
        # One answer signs every segment of a manifest (a long video's MPD: thousands of RSA signatures): a full
        # vCPU, and API Gateway's 29 s as the limit.
        self.player = fns.add(
            "PlayManifest",
            handler="play_manifest",
            description="a private job's manifest, every URI signed",
            memory_mb=MB_PER_VCPU,
            timeout=Duration.seconds(29),
        )
        environment = {
            "PRIVATE_URL_SIGNER": self.signer,
            "PLAY_TOKEN_SECRET": self.token_key.secret_arn,
            "PRIVATE_URL_TTL_SECONDS": str(config.private_url_ttl_s),
        }
        signing = [api, self.player]
        for fn in signing:
            for name, value in environment.items():
                fn.add_environment(name, value)
            self.token_key.grant_read(fn)
        # Manifests are read to be rewritten, and with the S3 signer the segments' links carry this permission.
        _allow(self.player, ["s3:GetObject"], self.objects)
        # A manifest that is not there answers 404 NoSuchKey (ManifestNotFound), not 403, with listing under private/.
        self.player.add_to_role_policy(listing_statement(outputs.bucket_arn, PRIVATE_PREFIX))
        if self.signer == "cloudfront":
            secret = config.private_playback_key_secret or ""
            private_key = (
                secretsmanager.Secret.from_secret_complete_arn(self, "CloudFrontKey", secret)
                if secret.startswith("arn:")
                else secretsmanager.Secret.from_secret_name_v2(self, "CloudFrontKey", secret)
            )
            for fn in signing:
                fn.add_environment("CLOUDFRONT_KEY_PAIR_ID", key_pair_id or "")
                fn.add_environment("CLOUDFRONT_PRIVATE_KEY_SECRET", secret)
                private_key.grant_read(fn)
        acknowledge(
            self,
            {
                "AwsSolutions-SMG4": "Play links are signed for minutes; rotating the key would only end the links "
                "already handed out. Rotate by replacing the secret (a redeploy).",
            },
        )

    def serve(self, rest_api: apigw.RestApi) -> None:
        """GET /play/{job_id}/{file+} on PlayManifest, without the token authorizer (the link is the credential)."""
        if self.player is None:
            return
        api_id = rest_api.rest_api_id
        if self._config.playback_s3_endpoint:  # LocalStack serves every API under its own endpoint
            base = Fn.join(
                "", [self._config.playback_s3_endpoint.rstrip("/"), "/_aws/execute-api/", api_id, f"/{STAGE}"]
            )
        else:
            base = Fn.join("", ["https://", api_id, ".execute-api.", Aws.REGION, ".", Aws.URL_SUFFIX, f"/{STAGE}"])
        for fn in (self._api, self.player):
            fn.add_environment("PLAY_BASE_URL", base)
        integration = apigw.LambdaIntegration(self.player, proxy=True)
        files = rest_api.root.add_resource(PLAY_RESOURCE).add_resource("{job_id}").add_resource("{file+}")
        for method in ("GET", "HEAD"):
            files.add_method(method, integration, authorization_type=apigw.AuthorizationType.NONE)
        acknowledge(
            files,
            {
                "AwsSolutions-APIG4": "Private playback links carry their own credential (an HMAC over the job, "
                "the file and the expiry, checked by PlayManifest): players cannot send an Authorization header.",
                "AwsSolutions-COG4": "Same: the play link is the credential.",
            },
        )


def _allow(fn: lambda_.Function, actions: list[str], *resources: str) -> None:
    fn.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=list(resources)))
