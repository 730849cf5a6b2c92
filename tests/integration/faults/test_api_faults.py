"""The REST API under injected DynamoDB throttling (localruntime/…/faults.py): 503 with Retry-After and nothing lost;
the authorizer's token read throttled answers 5xx, never 401 (which would tell every caller its token is wrong)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from tests.integration.faults.conftest import OWNER
from vodpipe.client.api import ApiClient
from vodpipe.local.faults import FaultInjector, FaultRule
from vodpipe.local.stack import LocalDeployment
from vodpipe.local.users import create_token

API = ("*-FunctionsJobsApi*",)
UPLOAD = {"file_name": "tiny.mp4", "size": 1000, "preset": "tiny-wide"}


def _http(method: str, url: str, token: str, body: Any = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, text, headers = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        status, text, headers = error.code, error.read(), dict(error.headers)
    return status, (json.loads(text) if text else {}), headers


def _open_uploads(s3: Any, bucket: str) -> list[str]:
    listed = s3.list_multipart_uploads(Bucket=bucket, Prefix=f"uploads/{OWNER}/")
    return [upload["Key"] for upload in listed.get("Uploads", [])]


def test_a_throttled_table_answers_503_with_retry_after_and_loses_nothing(
    stack: LocalDeployment, token: str, faults: FaultInjector, aws_client: Callable[..., Any]
) -> None:
    s3 = aws_client("s3")
    status, before, _ = _http("GET", f"{stack.api_url}/jobs?limit=100", token)
    assert status == 200
    known = {job["job_id"] for job in before["jobs"]}
    open_before = set(_open_uploads(s3, stack.uploads_bucket))

    # The job's write refused: the multipart upload it had started must be aborted, no job left behind.
    (write,) = faults.add(FaultRule(name="job write", service="dynamodb", operations=("PutItem",), functions=API))
    status, body, headers = _http("POST", f"{stack.api_url}/uploads", token, UPLOAD)
    write = faults.rule(write.id)
    faults.clear()
    retry_after = headers.get("Retry-After")
    print(f"\nPOST /uploads throttled: {status} {body} Retry-After={retry_after}; {write.failed} PutItem refused")
    assert status == 503, body
    assert body["error"] == "unavailable"
    assert int(headers["Retry-After"]) >= 1
    assert write.failed >= 1
    assert set(_open_uploads(s3, stack.uploads_bucket)) == open_before, "a multipart upload was left open"
    status, after, _ = _http("GET", f"{stack.api_url}/jobs?limit=100", token)
    assert {job["job_id"] for job in after["jobs"]} == known, "a half-made job was left behind"

    # The same request once the fault is gone succeeds.
    status, created, _ = _http("POST", f"{stack.api_url}/uploads", token, UPLOAD)
    assert status == 201, created
    job_id = created["job"]["job_id"]

    # An idempotent call through the vodpipe client waits out Retry-After and succeeds once the throttling ends.
    (reads,) = faults.add(FaultRule(name="reads", service="dynamodb", functions=API, duration_s=3))
    started = time.monotonic()
    with ApiClient(stack.api_url, token, attempts=4) as api:
        job = api.get_job(job_id)
    waited = time.monotonic() - started
    reads = faults.rule(reads.id)
    print(f"GET /jobs/{{id}} through 3 s of throttling: {waited:.1f} s, {reads.failed} DynamoDB calls refused")
    assert job["job_id"] == job_id
    assert reads.failed >= 1, "the read never met the fault"
    with ApiClient(stack.api_url, token) as api:
        api.abort_upload(job_id)


def test_a_throttled_token_read_answers_5xx_not_401(
    stack: LocalDeployment, faults: FaultInjector, aws_client: Callable[..., Any]
) -> None:
    # A token never used before: no authorizer result is cached for it.
    fresh = create_token(aws_client("dynamodb"), stack.jobs_table, OWNER)
    (reads,) = faults.add(
        FaultRule(
            name="token reads", service="dynamodb", operations=("GetItem",), functions=("*-FunctionsAuthorizer*",)
        )
    )
    status, body, _ = _http("GET", f"{stack.api_url}/jobs", fresh)
    reads = faults.rule(reads.id)
    faults.clear()
    print(f"\nGET /jobs with the token read throttled: {status} {body}; {reads.failed} GetItem refused")
    assert reads.failed >= 1, "the authorizer never read the token"
    assert 500 <= status < 600, (status, body)

    status, body, _ = _http("GET", f"{stack.api_url}/jobs", fresh)
    assert status == 200, "a failure is not cached as a verdict on the token"
