"""The S3 upload store on the local runtime passes the shared UploadStore contract, through real presigned PUTs."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config

from lambdas.storage.s3_uploads import S3UploadStore
from tests.contract.upload_store_contract import UploadStoreContract, UploadStoreUnderTest


class TestS3UploadStore(UploadStoreContract):
    @pytest.fixture
    def upload_store(self, aws_client: Callable[..., Any], bucket: str) -> UploadStoreUnderTest:
        s3 = aws_client("s3")
        # As the API builds it (lambdas/handlers/_wiring.py): URLs signed with SigV4.
        store = S3UploadStore(s3, aws_client("s3", config=Config(signature_version="s3v4")))

        def put(url: str, data: bytes) -> str:
            request = urllib.request.Request(url, data=data, method="PUT")
            with urllib.request.urlopen(request, timeout=30) as response:
                return str(response.headers["ETag"]).strip('"')

        def read(bucket_name: str, key: str) -> tuple[bytes, dict[str, str]]:
            got = s3.get_object(Bucket=bucket_name, Key=key)
            return got["Body"].read(), dict(got["Metadata"])

        return UploadStoreUnderTest(store, bucket, put=put, read=read)
