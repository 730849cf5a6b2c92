"""Fixtures shared by the local-runtime integration tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture
def bucket(aws_client: Callable[..., Any]) -> Iterator[str]:
    """A fresh bucket, emptied and deleted afterwards."""
    s3 = aws_client("s3")
    name = f"vodpipe-rt-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)
