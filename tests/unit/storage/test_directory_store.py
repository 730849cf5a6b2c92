"""The directory-backed fake passes the same MediaStore contract as the S3 adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdas.storage.ports import MediaStore
from tests.contract.media_store_contract import MediaStoreContract, Seed
from tests.fakes.storage import DirectoryMediaStore


class TestDirectoryMediaStore(MediaStoreContract):
    @pytest.fixture
    def media_store(self, tmp_path: Path) -> tuple[MediaStore, str, Seed]:
        store = DirectoryMediaStore(tmp_path / "store")

        def seed(key: str, data: bytes, metadata: dict[str, str]) -> None:
            store.put_bytes("bucket", key, data, metadata=metadata)

        return store, "bucket", seed


def test_keys_cannot_leave_the_root(tmp_path: Path) -> None:
    store = DirectoryMediaStore(tmp_path)
    with pytest.raises(ValueError, match="invalid key"):
        store.head("bucket", "outputs/../../etc/passwd")
