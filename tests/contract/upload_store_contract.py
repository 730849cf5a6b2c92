"""The UploadStore contract: one suite that every implementation (in-memory fake, S3 adapter) passes."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from lambdas.storage.ports import MIN_PART_SIZE, PartsRejected, UploadNotFound, UploadStore

# What a client's PUT of `data` to a presigned part URL does: the part's ETag as the store answers it, quotes removed.
PutPart = Callable[[str, bytes], str]
# The object a completed upload left at (bucket, key): its bytes and its user metadata.
ReadObject = Callable[[str, str], tuple[bytes, dict[str, str]]]


@dataclass(frozen=True)
class UploadStoreUnderTest:
    store: UploadStore
    bucket: str
    put: PutPart
    read: ReadObject


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


FULL = bytes(range(256)) * (MIN_PART_SIZE // 256)  # the smallest part allowed before the last
TAIL = b"the last part may be small"


class UploadStoreContract:
    """Subclass it and provide an `upload_store` fixture: an UploadStoreUnderTest over an empty bucket.

    class TestMyUploadStore(UploadStoreContract):
        @pytest.fixture
        def upload_store(self) -> UploadStoreUnderTest:
            store = MyUploadStore()
            return UploadStoreUnderTest(store, "bucket", put=..., read=...)
    """

    @pytest.fixture
    def upload_store(self) -> UploadStoreUnderTest:
        raise NotImplementedError

    @staticmethod
    def start(under: UploadStoreUnderTest, key: str | None = None) -> tuple[str, str]:
        """A new upload: (key, upload id)."""
        key = key or f"uploads/alice/{uuid.uuid4().hex}/source"
        upload_id = under.store.start(under.bucket, key, content_type="video/mp4", metadata={"owner": "alice"})
        assert upload_id
        return key, upload_id

    @staticmethod
    def put(under: UploadStoreUnderTest, key: str, upload_id: str, number: int, data: bytes) -> str:
        return under.put(under.store.presign_part(under.bucket, key, upload_id, number, 900), data)

    # --- start and parts --------------------------------------------------------------------------

    def test_a_new_upload_has_no_parts(self, upload_store: UploadStoreUnderTest) -> None:
        key, upload_id = self.start(upload_store)
        assert upload_store.store.list_parts(upload_store.bucket, key, upload_id) == []

    def test_parts_put_through_presigned_urls_are_listed_by_number(self, upload_store: UploadStoreUnderTest) -> None:
        key, upload_id = self.start(upload_store)
        assert self.put(upload_store, key, upload_id, 2, TAIL) == _md5(TAIL)
        assert self.put(upload_store, key, upload_id, 1, FULL) == _md5(FULL)
        parts = upload_store.store.list_parts(upload_store.bucket, key, upload_id)
        assert [(p.part_number, p.etag, p.size) for p in parts] == [
            (1, _md5(FULL), len(FULL)),
            (2, _md5(TAIL), len(TAIL)),
        ]

    def test_putting_a_part_again_replaces_it(self, upload_store: UploadStoreUnderTest) -> None:
        key, upload_id = self.start(upload_store)
        self.put(upload_store, key, upload_id, 1, b"first try")
        self.put(upload_store, key, upload_id, 1, TAIL)
        parts = upload_store.store.list_parts(upload_store.bucket, key, upload_id)
        assert [(p.part_number, p.etag) for p in parts] == [(1, _md5(TAIL))]

    # --- complete ---------------------------------------------------------------------------------

    def test_completing_assembles_the_parts_in_order_with_the_metadata(
        self, upload_store: UploadStoreUnderTest
    ) -> None:
        store, bucket = upload_store.store, upload_store.bucket
        key = f"uploads/alice/{uuid.uuid4().hex}/source"
        upload_id = store.start(
            bucket, key, content_type="video/mp4", metadata={"file-name": "clip%20%C3%A9.mp4", "priority": "7"}
        )
        second = self.put(upload_store, key, upload_id, 2, TAIL)
        first = self.put(upload_store, key, upload_id, 1, FULL)
        completed = store.complete(bucket, key, upload_id, [(1, first), (2, f'"{second}"')])  # quoted or not
        assert completed.etag is not None
        assert completed.etag.endswith("-2")
        assert '"' not in completed.etag
        body, metadata = upload_store.read(bucket, key)
        assert body == FULL + TAIL
        assert metadata == {"file-name": "clip%20%C3%A9.mp4", "priority": "7"}
        with pytest.raises(UploadNotFound):
            store.list_parts(bucket, key, upload_id)  # completed: the upload is gone

    @pytest.mark.parametrize("wrong", ["etag", "missing part", "order", "too small"])
    def test_completing_refuses_parts_that_do_not_add_up_and_keeps_the_upload(
        self, upload_store: UploadStoreUnderTest, wrong: str
    ) -> None:
        store, bucket = upload_store.store, upload_store.bucket
        key, upload_id = self.start(upload_store)
        first = self.put(upload_store, key, upload_id, 1, TAIL if wrong == "too small" else FULL)
        second = self.put(upload_store, key, upload_id, 2, TAIL) if wrong != "missing part" else "0" * 32
        parts = [(1, first), (2, second)]
        if wrong == "etag":
            parts[1] = (2, _md5(b"something else"))
        elif wrong == "order":
            parts.reverse()
        with pytest.raises(PartsRejected):
            store.complete(bucket, key, upload_id, parts)
        listed = store.list_parts(bucket, key, upload_id)  # still open: the client can fix it and complete
        assert [p.part_number for p in listed] == ([1] if wrong == "missing part" else [1, 2])

    # --- unknown, aborted -------------------------------------------------------------------------

    def test_an_unknown_upload_is_upload_not_found(self, upload_store: UploadStoreUnderTest) -> None:
        store, bucket = upload_store.store, upload_store.bucket
        key, upload_id = self.start(upload_store)
        with pytest.raises(UploadNotFound):
            store.list_parts(bucket, key, "no-such-upload")
        with pytest.raises(UploadNotFound):
            store.list_parts(bucket, f"{key}-elsewhere", upload_id)  # an upload id belongs to its key
        with pytest.raises(UploadNotFound):
            store.complete(bucket, key, "no-such-upload", [(1, _md5(TAIL))])

    def test_aborting_discards_the_upload_and_twice_is_fine(self, upload_store: UploadStoreUnderTest) -> None:
        store, bucket = upload_store.store, upload_store.bucket
        key, upload_id = self.start(upload_store)
        etag = self.put(upload_store, key, upload_id, 1, TAIL)
        store.abort(bucket, key, upload_id)
        with pytest.raises(UploadNotFound):
            store.list_parts(bucket, key, upload_id)
        with pytest.raises(UploadNotFound):
            store.complete(bucket, key, upload_id, [(1, etag)])
        store.abort(bucket, key, upload_id)
