"""The S3 media store on the local runtime passes the shared MediaStore contract."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lambdas.storage.ports import MediaStore
from lambdas.storage.s3 import S3MediaStore
from tests.contract.media_store_contract import MediaStoreContract, Seed


@pytest.fixture(scope="module")
def s3(aws_client: Callable[..., Any]) -> Any:
    return aws_client("s3")


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = f"vodpipe-store-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=name, Key=item["Key"])
        s3.delete_bucket(Bucket=name)


class TestS3MediaStore(MediaStoreContract):
    @pytest.fixture
    def media_store(self, s3: Any, bucket: str) -> tuple[MediaStore, str, Seed]:
        def seed(key: str, data: bytes, metadata: dict[str, str]) -> None:
            s3.put_object(Bucket=bucket, Key=key, Body=data, Metadata=metadata)

        return S3MediaStore(s3), bucket, seed
