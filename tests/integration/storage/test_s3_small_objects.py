"""The S3 small-object store (captions) on the local runtime passes the shared CaptionFiles contract, presigned
PUTs included (signature checking is on locally)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config

from lambdas.captions.ports import CaptionFiles
from lambdas.storage.s3_objects import S3SmallObjects
from tests.contract.caption_files_contract import CaptionFilesContract, ClientPut


def put(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, method="PUT")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)


class TestS3SmallObjects(CaptionFilesContract):
    @pytest.fixture
    def caption_files(self, aws_client: Callable[..., Any], bucket: str) -> tuple[CaptionFiles, str, ClientPut]:
        presigner = aws_client("s3", config=Config(signature_version="s3v4"))
        return S3SmallObjects(aws_client("s3"), presigner), bucket, put

    def test_a_tampered_presigned_url_is_refused(self, caption_files: tuple[CaptionFiles, str, ClientPut]) -> None:
        files, bucket, client_put = caption_files
        url = files.presign_put(bucket, "uploads/alice/j/captions/cap_2", expires_in=300)
        assert client_put(url.replace("cap_2", "cap_3"), b"x") == 403
