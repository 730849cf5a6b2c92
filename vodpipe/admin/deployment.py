"""Where the admin tools find a deployment: its CloudFormation stack outputs, read with the caller's AWS credentials.

The same calls reach AWS and the local runtime; only the endpoint differs, chosen in this order (as the API
commands choose their API, vodpipe/client/config.py):

1. `--endpoint-url`, else `AWS_ENDPOINT_URL` (boto3's own variable): that endpoint;
2. else the local deployment `make deploy-local` recorded for this checkout (.state/<instance>/outputs.json):
   its endpoint and region, so `vodpipe admin …` works against it with no flags;
3. else AWS itself (`--aws` skips 2): the account and region of the default credential chain.

Credentials are the caller's (boto3's default chain). Against the recorded local deployment, LocalStack's fixed
test credentials stand in when none are configured; LocalStack accepts any.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from lambdas.auth.dynamodb import DynamoDBTokenStore
from lambdas.auth.ports import TokenRegistry
from stacks.names import STORAGE_STACK
from vodpipe.client.config import local_deployment
from vodpipe.client.errors import ClientError as VodpipeClientError

ENDPOINT_ENV = "AWS_ENDPOINT_URL"
# The storage stack's output naming the jobs table (stacks/storage_stack.py exports it under this name).
JOBS_TABLE_OUTPUT = "JobsTableName"
LOCALSTACK_CREDENTIALS = ("test", "test")


class AdminError(VodpipeClientError):
    """The deployment cannot be reached or read; the message says what to do."""


@dataclass(frozen=True)
class AwsTarget:
    """Where the admin calls go: an endpoint (None: AWS's own), a region (None: the session's), and how to say it."""

    endpoint_url: str | None
    region: str | None
    where: str
    local: bool = False  # the recorded local deployment: test credentials when the caller has none

    def session(self) -> boto3.Session:
        session = boto3.Session(region_name=self.region)
        if self.local and session.get_credentials() is None:
            key, secret = LOCALSTACK_CREDENTIALS
            session = boto3.Session(region_name=self.region, aws_access_key_id=key, aws_secret_access_key=secret)
        return session

    def client(self, service: str) -> Any:
        make: Any = self.session().client  # boto3-stubs types Session.client on literal service names only
        return make(service, endpoint_url=self.endpoint_url)


def resolve_aws_target(endpoint_url: str | None = None, region: str | None = None, *, aws: bool = False) -> AwsTarget:
    """The endpoint and region the admin tools use (see the module docstring for the order)."""
    region = region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or None
    configured = endpoint_url or os.environ.get(ENDPOINT_ENV) or None
    if configured:
        return AwsTarget(configured, region, configured)
    deployment = None if aws else local_deployment()
    if deployment is not None:
        return AwsTarget(
            deployment.endpoint,
            region or deployment.region,
            f"the local deployment at {deployment.endpoint} (pass --aws for AWS itself)",
            local=True,
        )
    return AwsTarget(None, region, f"AWS ({region})" if region else "AWS")


def failure(error: BaseException, target: AwsTarget) -> AdminError:
    """An SDK failure as one line that says what to do."""
    if isinstance(error, NoCredentialsError):
        return AdminError(
            f"no AWS credentials for {target.where}: configure them (`aws configure`, AWS_PROFILE, or "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    if isinstance(error, NoRegionError):
        return AdminError("no AWS region: pass --region, or set AWS_DEFAULT_REGION or AWS_REGION")
    if isinstance(error, EndpointConnectionError):
        hint = ": is LocalStack running (`make up`)?" if target.local or target.endpoint_url else ""
        return AdminError(f"cannot reach {target.where}{hint}")
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return AdminError(f"{target.where}: {info.get('Code', 'error')}: {info.get('Message', '')}".rstrip(": "))
    return AdminError(f"{target.where}: {type(error).__name__}: {error}")


def stack_outputs(target: AwsTarget, stack_name: str) -> dict[str, str]:
    """A deployed stack's outputs by key; AdminError when the stack does not exist there."""
    try:
        stacks = target.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationError":  # what "does not exist" is coded as
            raise AdminError(
                f"no {stack_name} stack in {target.where}: deploy first (`make deploy`, or `make deploy-local`)"
            ) from None
        raise failure(error, target) from error
    except BotoCoreError as error:
        raise failure(error, target) from error
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", []) if "OutputKey" in o}


def jobs_table(target: AwsTarget) -> str:
    outputs = stack_outputs(target, STORAGE_STACK)
    if JOBS_TABLE_OUTPUT not in outputs:
        raise AdminError(f"the {STORAGE_STACK} stack in {target.where} has no {JOBS_TABLE_OUTPUT} output")
    return outputs[JOBS_TABLE_OUTPUT]


def token_registry(target: AwsTarget) -> TokenRegistry:
    """The deployment's tokens, in its jobs table."""
    table = jobs_table(target)
    return DynamoDBTokenStore(target.client("dynamodb"), table)
