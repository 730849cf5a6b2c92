"""The in-memory CaptionFiles fake passes the same contract as the S3 adapter."""

from __future__ import annotations

import pytest

from lambdas.captions.ports import CaptionFiles
from tests.contract.caption_files_contract import CaptionFilesContract, ClientPut
from tests.fakes.captions import InMemoryCaptionFiles


class TestInMemoryCaptionFiles(CaptionFilesContract):
    @pytest.fixture
    def caption_files(self) -> tuple[CaptionFiles, str, ClientPut]:
        files = InMemoryCaptionFiles()

        def put(url: str, body: bytes) -> int:
            files.put(url, body)
            return 200

        return files, "bucket", put
