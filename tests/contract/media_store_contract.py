"""The MediaStore contract: one suite that every implementation (directory fake, S3 adapter) passes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lambdas.storage.ports import MediaStore, ObjectNotFound

# (store, bucket, seed) where seed(key, data, metadata) puts an object as an uploader would.
Seed = Callable[[str, bytes, dict[str, str]], None]


class MediaStoreContract:
    """Subclasses provide the `media_store` fixture: (store, bucket name, seed function)."""

    @pytest.fixture
    def media_store(self) -> tuple[MediaStore, str, Seed]:
        raise NotImplementedError

    def test_download_writes_the_object_and_reports_it(
        self, media_store: tuple[MediaStore, str, Seed], tmp_path: Path
    ) -> None:
        store, bucket, seed = media_store
        seed("uploads/alice/x/source", b"hello video", {"Priority": "7"})
        target = tmp_path / "source"
        info = store.download(bucket, "uploads/alice/x/source", target)
        assert target.read_bytes() == b"hello video"
        assert (info.key, info.size) == ("uploads/alice/x/source", 11)
        assert info.metadata == {"priority": "7"}  # user metadata keys come back lower-case
        assert info.etag
        assert '"' not in info.etag

    def test_missing_objects_are_object_not_found(
        self, media_store: tuple[MediaStore, str, Seed], tmp_path: Path
    ) -> None:
        store, bucket, _ = media_store
        with pytest.raises(ObjectNotFound):
            store.head(bucket, "outputs/nothing/here")
        with pytest.raises(ObjectNotFound):
            store.download(bucket, "outputs/nothing/here", tmp_path / "x")

    def test_upload_sets_headers_and_replaces(self, media_store: tuple[MediaStore, str, Seed], tmp_path: Path) -> None:
        store, bucket, _ = media_store
        path = tmp_path / "index.m3u8"
        path.write_text("#EXTM3U\n")
        stored = store.upload(
            path,
            bucket,
            "outputs/j/hls/a/index.m3u8",
            content_type="application/vnd.apple.mpegurl",
            cache_control="max-age=60",
        )
        assert stored.size == 8
        path.write_text("#EXTM3U\n#EXT-X-ENDLIST\n")
        store.upload(
            path,
            bucket,
            "outputs/j/hls/a/index.m3u8",
            content_type="application/vnd.apple.mpegurl",
            cache_control="max-age=60",
        )
        head = store.head(bucket, "outputs/j/hls/a/index.m3u8")
        assert head.size == len("#EXTM3U\n#EXT-X-ENDLIST\n")
        assert head.content_type == "application/vnd.apple.mpegurl"
        assert head.cache_control == "max-age=60"
        back = tmp_path / "back"
        store.download(bucket, "outputs/j/hls/a/index.m3u8", back)
        assert back.read_text() == "#EXTM3U\n#EXT-X-ENDLIST\n"

    def test_list_and_delete_a_prefix(self, media_store: tuple[MediaStore, str, Seed], tmp_path: Path) -> None:
        store, bucket, seed = media_store
        for key in ("outputs/j1/a", "outputs/j1/b/c", "outputs/j10/a", "outputs/j2/a"):
            seed(key, key.encode(), {})
        listed = store.list_prefix(bucket, "outputs/j1/")
        assert [(i.key, i.size) for i in listed] == [("outputs/j1/a", 12), ("outputs/j1/b/c", 14)]
        assert store.delete_prefix(bucket, "outputs/j1/") == 2
        assert [i.key for i in store.list_prefix(bucket, "outputs/")] == ["outputs/j10/a", "outputs/j2/a"]
        with pytest.raises(ValueError, match="empty"):
            store.delete_prefix(bucket, "")
