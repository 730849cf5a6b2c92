"""The CaptionFiles contract: one suite that every implementation (in-memory fake, S3 adapter) passes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lambdas.captions.ports import CaptionFiles
from lambdas.storage.ports import ObjectNotFound

# What a client does with a presigned URL: PUT the body there; the HTTP status.
ClientPut = Callable[[str, bytes], int]


class CaptionFilesContract:
    """Subclasses provide the `caption_files` fixture: (store, bucket name, client PUT)."""

    @pytest.fixture
    def caption_files(self) -> tuple[CaptionFiles, str, ClientPut]:
        raise NotImplementedError

    def test_a_presigned_put_stores_what_the_client_sent(
        self, caption_files: tuple[CaptionFiles, str, ClientPut]
    ) -> None:
        files, bucket, put = caption_files
        url = files.presign_put(bucket, "uploads/alice/j/captions/cap_1", expires_in=300)
        assert put(url, b"WEBVTT\n") == 200
        assert files.read(bucket, "uploads/alice/j/captions/cap_1", max_bytes=100) == b"WEBVTT\n"

    def test_a_read_is_bounded_to_one_byte_past_the_limit(
        self, caption_files: tuple[CaptionFiles, str, ClientPut]
    ) -> None:
        files, bucket, _ = caption_files
        files.write(bucket, "outputs/j/cmaf/big.vtt", b"x" * 50, content_type="text/vtt", cache_control="no-cache")
        assert files.read(bucket, "outputs/j/cmaf/big.vtt", max_bytes=10) == b"x" * 11
        assert files.read(bucket, "outputs/j/cmaf/big.vtt", max_bytes=50) == b"x" * 50

    def test_an_empty_object_reads_empty(self, caption_files: tuple[CaptionFiles, str, ClientPut]) -> None:
        files, bucket, _ = caption_files
        files.write(bucket, "outputs/j/empty", b"", content_type="text/vtt", cache_control="no-cache")
        assert files.read(bucket, "outputs/j/empty", max_bytes=10) == b""

    def test_writes_replace_and_deletes_are_idempotent(
        self, caption_files: tuple[CaptionFiles, str, ClientPut]
    ) -> None:
        files, bucket, _ = caption_files
        key = "outputs/j/cmaf/master.m3u8"
        files.write(bucket, key, b"one", content_type="application/vnd.apple.mpegurl", cache_control="max-age=60")
        files.write(bucket, key, b"two", content_type="application/vnd.apple.mpegurl", cache_control="max-age=60")
        assert files.read(bucket, key, max_bytes=10) == b"two"
        files.delete(bucket, key)
        files.delete(bucket, key)
        with pytest.raises(ObjectNotFound):
            files.read(bucket, key, max_bytes=10)

    def test_a_missing_object_is_object_not_found(self, caption_files: tuple[CaptionFiles, str, ClientPut]) -> None:
        files, bucket, _ = caption_files
        with pytest.raises(ObjectNotFound):
            files.read(bucket, "uploads/nobody/none", max_bytes=10)
