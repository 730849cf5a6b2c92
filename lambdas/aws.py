"""boto3 clients, created once per execution environment and reused across invocations."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config


@cache
def client(name: str) -> Any:
    """A client of boto3's default session.

    The endpoint comes from the environment with no code here: boto3/botocore >= 1.34 read
    AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>), which is how tests point at LocalStack.
    Typed as Any so callers can annotate with the mypy_boto3 client type they pass on.
    """
    return boto3.client(name)  # type: ignore[call-overload]  # the stubs only type literal names


def client_with(name: str, config: Config) -> Any:
    """A new client of boto3's default session with its own configuration (callers cache it)."""
    return boto3.client(name, config=config)  # type: ignore[call-overload]
