"""Browsers on the deployed stack: the API answers CORS on its own answers, its preflight and the gateway's refusals
(the authorizer's 401 included), the outputs bucket (the local playback origin) answers CORS to a player on
another page, and the console is published beside the outputs with its config.json naming this API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from vodpipe.local.stack import LocalDeployment
from vodpipe.local.users import create_token

ORIGIN = "http://127.0.0.1:8123"  # some other page; the deployment allows any ("*", the default)


def request(method: str, url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    sent = urllib.request.Request(url, method=method, headers={"Origin": ORIGIN, **(headers or {})})
    try:
        with urllib.request.urlopen(sent, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


@pytest.fixture(scope="module")
def token(stack: LocalDeployment, aws_client: Callable[..., Any]) -> str:
    return create_token(aws_client("dynamodb"), stack.jobs_table, "cors-tester")


def test_the_authorizers_refusals_carry_cors(stack: LocalDeployment) -> None:
    status, headers, body = request("GET", f"{stack.api_url}/jobs")  # no token
    assert status == 401
    assert headers.get("access-control-allow-origin") == "*"
    assert json.loads(body)["field"] == "Authorization"
    status, headers, _ = request("GET", f"{stack.api_url}/jobs", {"Authorization": "Bearer not-a-token"})
    assert status in {401, 403}
    assert headers.get("access-control-allow-origin") == "*"


def test_answers_and_errors_of_the_function_carry_cors_and_expose_etag(stack: LocalDeployment, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    status, headers, _ = request("GET", f"{stack.api_url}/jobs", auth)
    assert status == 200
    assert headers.get("access-control-allow-origin") == "*"
    assert "etag" in headers.get("access-control-expose-headers", "").lower()
    status, headers, _ = request("GET", f"{stack.api_url}/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV", auth)
    assert status == 404
    assert headers.get("access-control-allow-origin") == "*"


def test_the_preflight_allows_the_consoles_headers(stack: LocalDeployment) -> None:
    status, headers, _ = request(
        "OPTIONS",
        f"{stack.api_url}/jobs",
        {"Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "authorization,content-type"},
    )
    assert status in {200, 204}
    assert headers.get("access-control-allow-origin") == "*"
    allowed = headers.get("access-control-allow-headers", "").lower()
    assert {"authorization", "content-type", "if-none-match"} <= {h.strip() for h in allowed.split(",")}


def test_the_local_playback_origin_answers_cors_to_a_player_elsewhere(
    stack: LocalDeployment, aws_client: Callable[..., Any]
) -> None:
    key = "cors-check/master.m3u8"
    aws_client("s3").put_object(Bucket=stack.outputs_bucket, Key=key, Body=b"#EXTM3U\n")
    status, headers, body = request("GET", f"{stack.playback_base_url}/{key}")
    assert (status, body) == (200, b"#EXTM3U\n")
    assert headers.get("access-control-allow-origin") in {"*", ORIGIN}
    status, headers, _ = request(
        "OPTIONS", f"{stack.playback_base_url}/{key}", {"Access-Control-Request-Method": "GET"}
    )
    assert status == 200
    assert headers.get("access-control-allow-origin") in {"*", ORIGIN}


def test_the_console_is_published_beside_the_outputs(stack: LocalDeployment) -> None:
    assert stack.console_url == f"{stack.playback_base_url}/console/index.html"
    status, headers, body = request("GET", stack.console_url)
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert b"<html" in body.lower()
    status, _, config = request("GET", stack.console_url.replace("index.html", "config.json"))
    assert status == 200
    assert json.loads(config) == {"api_url": stack.api_url}
