"""Integration fixtures beside the session's deployment (tests/deployment.py: LocalStack, `aws_client`, `stack`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.deployment import REGION, TEST_SETTINGS, TEST_WORKER_TIMEOUT_S

__all__ = ["REGION", "TEST_SETTINGS", "TEST_WORKER_TIMEOUT_S"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def bucket(aws_client: Callable[..., Any]) -> Iterator[str]:
    """A fresh bucket; open multipart uploads aborted, objects deleted and the bucket removed afterwards."""
    s3 = aws_client("s3")
    name = f"vodpipe-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield name
    for upload in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)
