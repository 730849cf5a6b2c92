"""The S3 media store on the local runtime passes the shared MediaStore contract."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lambdas.storage.ports import MediaStore
from lambdas.storage.s3 import S3MediaStore
from tests.contract.media_store_contract import MediaStoreContract, Seed


@pytest.fixture(scope="module")
def s3(aws_client: Callable[..., Any]) -> Any:
    return aws_client("s3")


class TestS3MediaStore(MediaStoreContract):
    @pytest.fixture
    def media_store(self, s3: Any, bucket: str) -> tuple[MediaStore, str, Seed]:
        def seed(key: str, data: bytes, metadata: dict[str, str]) -> None:
            s3.put_object(Bucket=bucket, Key=key, Body=data, Metadata=metadata)

        return S3MediaStore(s3), bucket, seed
