"""boto3 clients, created once per execution environment and reused across invocations."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3


@cache
def client(name: str) -> Any:
    """A client of boto3's default session.

    The endpoint comes from the environment with no code here: boto3/botocore >= 1.34 read
    AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>), which is how tests point at LocalStack.
    Typed as Any so callers can annotate with the mypy_boto3 client type they pass on.
    """
    return boto3.client(name)  # type: ignore[call-overload]  # the stubs only type literal names
