"""Publishing the console: every built file under console/ with its type, and the deployment's own config.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vodpipe.admin.console import ConsoleNotBuilt, console_url, publish_console


class FakeS3:
    """The one call publishing makes, kept by key."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str, CacheControl: str) -> None:
        self.objects[Key] = {"bucket": Bucket, "body": Body, "type": ContentType, "cache": CacheControl}


def built(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html>")
    (dist / "console.js").write_text("export {}")
    (dist / "console.css").write_text("body{}")
    (dist / "assets" / "logo.svg").write_text("<svg/>")
    (dist / "config.json").write_text('{"api_url": "http://stale"}')  # a developer's own, never published
    return dist


def test_every_file_goes_under_console_with_its_type_and_the_config_names_the_api(tmp_path: Path) -> None:
    s3 = FakeS3()
    keys = publish_console(s3, "outputs", "https://api.example/v1/", built(tmp_path))
    assert sorted(keys) == sorted(s3.objects)
    types = {key: o["type"] for key, o in s3.objects.items()}
    assert types == {
        "console/index.html": "text/html; charset=utf-8",
        "console/console.js": "text/javascript; charset=utf-8",
        "console/console.css": "text/css; charset=utf-8",
        "console/assets/logo.svg": "image/svg+xml",
        "console/config.json": "application/json; charset=utf-8",
    }
    assert json.loads(s3.objects["console/config.json"]["body"]) == {"api_url": "https://api.example/v1"}
    assert {o["bucket"] for o in s3.objects.values()} == {"outputs"}
    assert {o["cache"] for o in s3.objects.values()} == {"no-cache"}  # names are not hashed: revalidate


def test_an_unbuilt_console_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(ConsoleNotBuilt, match="make setup"):
        publish_console(FakeS3(), "outputs", "https://api.example", tmp_path / "missing")


def test_the_console_lives_beside_the_outputs() -> None:
    assert console_url("https://d123.cloudfront.net/") == "https://d123.cloudfront.net/console/index.html"
    assert console_url("http://127.0.0.1:4566/bucket") == "http://127.0.0.1:4566/bucket/console/index.html"
