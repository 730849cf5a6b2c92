"""boto3 clients, created once per execution environment and reused across invocations."""

from __future__ import annotations

import os
from functools import cache
from typing import Any, Final

import boto3
from botocore.config import Config

# botocore's `standard` retry mode: throttling (SlowDown, ProvisionedThroughputExceededException,
# TooManyRequestsException…), 500/502/503/504 and lost connections are retried with full-jitter exponential backoff
# (< 1 s, < 2 s, < 4 s between the four attempts: at most ~7 s, inside API Gateway's 29 s), where the `legacy`
# default retries fewer codes. What is still failing after that reaches the adapter, which reports it as its
# "unavailable" error: the API answers 503 + Retry-After, the state machine retries the step (TransientError).
# AWS_MAX_ATTEMPTS in a function's environment overrides the count.
RETRY_MODE: Final = "standard"
MAX_ATTEMPTS: Final = 4


def retries() -> Config:
    """The retry configuration every client of ours is made with."""
    if os.environ.get("AWS_MAX_ATTEMPTS"):
        return Config(retries={"mode": RETRY_MODE})  # botocore reads the count from the environment
    return Config(retries={"mode": RETRY_MODE, "total_max_attempts": MAX_ATTEMPTS})


@cache
def client(name: str) -> Any:
    """A client of boto3's default session, with our retry configuration.

    The endpoint comes from the environment with no code here: boto3/botocore >= 1.34 read
    AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>), which is how tests point at LocalStack.
    Typed as Any so callers can annotate with the mypy_boto3 client type they pass on.
    """
    return boto3.client(name, config=retries())  # type: ignore[call-overload]  # the stubs only type literal names


def client_with(name: str, config: Config) -> Any:
    """A new client of boto3's default session with its own configuration merged over ours (callers cache it)."""
    return boto3.client(name, config=retries().merge(config))  # type: ignore[call-overload]
