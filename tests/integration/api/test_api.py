"""The jobs API deployed to LocalStack, over real HTTP: uploads through presigned URLs, jobs, auth, fuzzing.

Requests pass the REST API's TOKEN authorizer (run on LocalStack by localruntime/apigateway_authorizer.py);
the authorizer function is also invoked directly to show what it answers.
Sources are made with the layer's ffmpeg. The module shares one deployed stack (fixture `stack`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import boto3
import pytest
from botocore.config import Config

from lambdas import keys
from lambdas.jobs.dynamodb import DynamoDBJobRepository
from vodpipe.local.stack import LocalDeployment
from vodpipe.local.users import create_token, revoke_token

ROOT = Path(__file__).resolve().parents[3]
LAYER_BIN = ROOT / "layers" / "ffmpeg" / "build" / "bin"
MIB = 2**20
PART = 5 * MIB

pytestmark = pytest.mark.skipif(not (LAYER_BIN / "ffmpeg").is_file(), reason="ffmpeg layer not built")


# --- HTTP ----------------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def field(self) -> str | None:
        return self.body.get("field") if isinstance(self.body, dict) else None


def http(method: str, url: str, body: Any = None, *, token: str | None = None, raw: bytes | None = None) -> Answer:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, text, headers = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        status, text, headers = error.code, error.read(), dict(error.headers)
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = text.decode(errors="replace")
    return Answer(status, parsed, headers)


def put_part(url: str, data: bytes) -> tuple[int, str]:
    """A client's PUT to a presigned part URL: (status, ETag)."""
    request = urllib.request.Request(url, data=data, method="PUT")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers["ETag"]
    except urllib.error.HTTPError as error:
        error.read()
        return error.code, ""


def wait_for(what: str, probe: Callable[[], Any], deadline_s: float, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + deadline_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {deadline_s:.0f} s waiting for {what}")
        time.sleep(interval)


# --- media ---------------------------------------------------------------------------------------------


def ffmpeg(*args: str) -> None:
    subprocess.run([str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-v", "error", "-y", *args], check=True, timeout=300)


def dense_video(out: Path) -> Path:
    """~25 MB of real video in 2.5 s: 640x360 lossless H.264 of a noisy test pattern.

    Lossless x264 on noise is what makes it large; the pipeline still only decodes 75 frames of 360p and
    encodes one small rung, so the whole job takes seconds. (Padding a small MP4 with a `free` atom would
    also be a valid file, but real coded frames exercise the probe and transcode like a camera upload.)
    """
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=2.5",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2.5",
        "-vf", "noise=alls=40:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "0", "-g", "30",
        "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", str(out),
    )  # fmt: skip
    return out


def long_video(out: Path) -> Path:
    """20 s of 720p at a low bitrate: small to upload, long enough to cancel while it transcodes."""
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=20",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p", "-b:v", "800k", str(out),
    )  # fmt: skip
    return out


# --- fixtures ------------------------------------------------------------------------------------------


@dataclass
class Client:
    base: str
    token: str
    owner: str

    def __call__(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Answer:
        kwargs.setdefault("token", self.token)
        return http(method, f"{self.base}{path}", body, **kwargs)

    def job(self, job_id: str) -> dict[str, Any]:
        answer = self("GET", f"/jobs/{job_id}")
        assert answer.status == 200, answer.body
        return dict(answer.body)

    def until(self, job_id: str, *statuses: str, deadline_s: float = 180) -> dict[str, Any]:
        return dict(
            wait_for(
                f"job {job_id} to be {'/'.join(statuses)}",
                lambda: (job := self.job(job_id))["status"] in statuses and job,
                deadline_s,
            )
        )

    def upload(self, data: bytes, **fields: Any) -> dict[str, Any]:
        """Create, PUT every part through its presigned URL, complete: the job as completing answers it."""
        created = self("POST", "/uploads", {"file_name": "clip.mp4", "size": len(data), **fields})
        assert created.status == 201, created.body
        plan = created.body
        for part in plan["parts"]:
            start = (part["part_number"] - 1) * plan["part_size"]
            status, _ = put_part(part["url"], data[start : start + plan["part_size"]])
            assert status == 200
        done = self("POST", f"/uploads/{plan['job']['job_id']}/complete", {})
        assert done.status == 200, done.body
        return dict(done.body)


@dataclass
class Api:
    stack: LocalDeployment
    alice: Client
    bob: Client
    s3: Any
    sfn: Any
    repository: DynamoDBJobRepository
    media: Path


@pytest.fixture(scope="module")
def api(
    stack: LocalDeployment, aws_client: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    dynamodb = aws_client("dynamodb")
    suffix = uuid4().hex[:8]
    clients = []
    for name in ("alice", "bob"):
        owner = f"it-api-{name}-{suffix}"
        clients.append(Client(stack.api_url, create_token(dynamodb, stack.jobs_table, owner), owner))
    yield Api(
        stack,
        clients[0],
        clients[1],
        aws_client("s3"),
        aws_client("stepfunctions"),
        DynamoDBJobRepository(dynamodb, stack.jobs_table),
        tmp_path_factory.mktemp("api-media"),
    )
    for client in clients:
        revoke_token(dynamodb, stack.jobs_table, client.token)
        for page in (
            aws_client("s3")
            .get_paginator("list_objects_v2")
            .paginate(Bucket=stack.uploads_bucket, Prefix=f"uploads/{client.owner}/")
        ):
            for item in page.get("Contents", []):
                aws_client("s3").delete_object(Bucket=stack.uploads_bucket, Key=item["Key"])


@pytest.fixture(scope="module")
def dense(api: Api) -> Path:
    return dense_video(api.media / "dense.mp4")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- uploads -------------------------------------------------------------------------------------------


def test_a_25_mb_video_uploads_in_5_mb_parts_byte_exact_and_completes(api: Api, dense: Path) -> None:
    data = dense.read_bytes()
    assert len(data) > 20 * MIB, "the source should take several 5 MiB parts"
    created = api.alice(
        "POST",
        "/uploads",
        {"file_name": "Dense Clip.MP4", "size": len(data), "part_size": PART, "renditions": ["360p"],
         "outputs": ["hls", "thumbnails"], "priority": 8},
    )  # fmt: skip
    assert created.status == 201, created.body
    plan = created.body
    job_id = plan["job"]["job_id"]
    assert plan["key"] == f"uploads/{api.alice.owner}/{job_id}/source"
    assert (plan["part_size"], plan["part_count"]) == (PART, math.ceil(len(data) / PART))
    assert [p["part_number"] for p in plan["parts"]] == list(range(1, plan["part_count"] + 1))
    assert plan["job"]["status"] == "UPLOADING"
    assert plan["job"]["upload"]["file_name"] == "Dense Clip.MP4"
    for part in plan["parts"]:
        query = parse_qs(urlsplit(part["url"]).query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
        assert query["X-Amz-Expires"] == ["900"]  # PRESIGN_EXPIRY_SECONDS of the deployment
        assert urlsplit(part["url"]).path.endswith(f"/{plan['key']}")

    etags = []
    for part in plan["parts"]:
        start = (part["part_number"] - 1) * PART
        status, etag = put_part(part["url"], data[start : start + PART])
        assert status == 200
        etags.append({"part_number": part["part_number"], "etag": etag})
    done = api.alice("POST", f"/uploads/{job_id}/complete", {"parts": etags})
    assert done.status == 200, done.body
    assert done.body["status"] in {"QUEUED", "PROCESSING"}
    assert done.body["source"]["size"] == len(data)

    stored = api.s3.get_object(Bucket=api.stack.uploads_bucket, Key=plan["key"])
    assert sha256(stored["Body"].read()) == sha256(data)
    assert stored["Metadata"]["file-name"] == "Dense%20Clip.MP4"

    job = api.alice.until(job_id, "COMPLETED", "FAILED")
    assert job["status"] == "COMPLETED", job.get("error_message")
    assert job["outputs"]["playback_url"].endswith(keys.master_key(job_id))
    assert "execution_arn" not in job
    again = api.alice("POST", f"/uploads/{job_id}/complete", {})
    assert (again.status, again.body["status"]) == (200, "COMPLETED"), "completing twice answers the job"
    listed = api.alice("GET", "/jobs")
    assert listed.status == 200
    assert listed.body["jobs"][0]["job_id"] == job_id
    stats = api.alice("GET", "/stats?window_hours=1")
    assert stats.status == 200
    assert stats.body["by_status"]["COMPLETED"] >= 1
    assert stats.body["by_priority_class"]["bulk"] >= 1  # priority 8


@pytest.fixture(scope="module")
def resumed(api: Api, dense: Path) -> dict[str, Any]:
    """A truncated video (its index is cut off) uploaded in two sittings: parts 1-2, then what was missing."""
    data = dense.read_bytes()[: 13 * MIB]
    created = api.alice("POST", "/uploads", {"file_name": "cut.mov", "size": len(data), "part_size": PART})
    assert created.status == 201, created.body
    plan = created.body
    job_id = plan["job"]["job_id"]
    for part in plan["parts"][:2]:
        start = (part["part_number"] - 1) * PART
        assert put_part(part["url"], data[start : start + PART])[0] == 200
    # The client is interrupted here and forgets everything but the job id.
    return {"job_id": job_id, "data": data, "part_count": plan["part_count"], "key": plan["key"]}


def test_an_interrupted_upload_resumes_with_only_the_missing_parts(api: Api, resumed: dict[str, Any]) -> None:
    job_id, data = resumed["job_id"], resumed["data"]
    listing = api.alice("GET", f"/uploads/{job_id}/parts")
    assert listing.status == 200, listing.body
    assert [p["part_number"] for p in listing.body["parts"]] == [1, 2]
    assert [p["size"] for p in listing.body["parts"]] == [PART, PART]
    missing = [n for n in range(1, listing.body["part_count"] + 1) if n not in {1, 2}]
    assert missing == [3]
    urls = api.alice("POST", f"/uploads/{job_id}/parts", {"part_numbers": missing})
    assert urls.status == 200, urls.body
    for part in urls.body["parts"]:
        start = (part["part_number"] - 1) * PART
        assert put_part(part["url"], data[start : start + PART])[0] == 200
    done = api.alice("POST", f"/uploads/{job_id}/complete", {})
    assert done.status == 200, done.body
    stored = api.s3.get_object(Bucket=api.stack.uploads_bucket, Key=resumed["key"])["Body"].read()
    assert sha256(stored) == sha256(data)


def test_a_failed_job_is_retried_until_its_retries_run_out(api: Api, resumed: dict[str, Any]) -> None:
    job_id = resumed["job_id"]
    failed = api.alice.until(job_id, "FAILED", "COMPLETED")
    assert (failed["status"], failed["retry_count"]) == ("FAILED", 0), failed
    for attempt in (1, 2, 3):
        answer = api.alice("POST", f"/jobs/{job_id}/retry")
        assert answer.status == 202, answer.body
        assert (answer.body["status"], answer.body["retry_count"]) == ("QUEUED", attempt)
        # The scheduler admitted the attempt and ran it under its deterministic execution name.
        arn = f"{api.stack.state_machine_arn.replace(':stateMachine:', ':execution:')}:{job_id}-a{attempt}"

        def finished(arn: str = arn) -> bool:
            return _execution_status(api, arn) in {"SUCCEEDED", "FAILED"}

        wait_for(f"execution {arn}", finished, 120)
        again = api.alice.until(job_id, "FAILED", "COMPLETED")
        assert (again["status"], again["retry_count"]) == ("FAILED", attempt)
        assert api.repository.get(job_id).execution_arn == arn
    beyond = api.alice("POST", f"/jobs/{job_id}/retry")
    assert (beyond.status, beyond.body["error"]) == (409, "conflict"), beyond.body
    events = api.alice("GET", f"/jobs/{job_id}/events")
    assert events.status == 200
    assert sum("retry" in event["message"] for event in events.body["events"]) == 3


def _execution_status(api: Api, arn: str) -> str | None:
    try:
        return str(api.sfn.describe_execution(executionArn=arn)["status"])
    except api.sfn.exceptions.ExecutionDoesNotExist:
        return None


def test_cancel_while_processing_stops_the_execution_and_removes_outputs(api: Api) -> None:
    data = long_video(api.media / "long.mp4").read_bytes()
    early = api.alice.upload(data, renditions=["360p"])["job_id"]
    late = api.alice.upload(data, renditions=["720p", "480p", "360p"])["job_id"]

    def outputs(job_id: str) -> list[str]:
        listing = api.s3.list_objects_v2(Bucket=api.stack.outputs_bucket, Prefix=f"outputs/{job_id}/")
        return [item["Key"] for item in listing.get("Contents", [])]

    def cancel(job_id: str) -> None:
        arn = api.repository.get(job_id).execution_arn
        assert arn
        answer = api.alice("DELETE", f"/jobs/{job_id}")
        assert (answer.status, answer.body["status"]) == (200, "CANCELLED"), answer.body
        wait_for("the execution to end", lambda: _execution_status(api, arn) not in {None, "RUNNING"}, 60)
        detail = api.sfn.describe_execution(executionArn=arn)
        # AWS answers ABORTED at once. LocalStack lets the steps in flight finish after StopExecution,
        # and a step that then stops on the CANCELLED status (JobCancelled) turns ABORTED into FAILED
        # (its Environment.set_error overrides ProgramStopped). The stop call itself: tests/unit/api.
        print(job_id, detail["status"], detail.get("error"))
        # RegisterJob that finds the job CANCELLED stops it the same way (DuplicateEvent: not this run's job).
        ended = (detail["status"], detail.get("error"))
        assert detail["status"] == "ABORTED" or ended in {("FAILED", "JobCancelled"), ("FAILED", "DuplicateEvent")}

    # Early, while RegisterJob or the probe runs: no output exists yet, and none is ever written.
    wait_for("the first job to be PROCESSING", lambda: api.alice.job(early)["status"] == "PROCESSING", 120, 0.1)
    cancel(early)
    # Late, once the thumbnails or a rendition have written something.
    wait_for("outputs to appear", lambda: api.alice.job(late)["status"] == "PROCESSING" and outputs(late), 120, 0.2)
    cancel(late)
    # Steps still running see the status at their next check and write nothing more.
    wait_for("the outputs prefix to be empty", lambda: not outputs(late), 30)
    time.sleep(3)  # proving a negative: no late write lands after the cleanup
    assert outputs(late) == outputs(early) == []
    for job_id in (early, late):
        assert api.alice.job(job_id)["status"] == "CANCELLED"
    again = api.alice("DELETE", f"/jobs/{late}")
    assert (again.status, again.body["status"]) == (200, "CANCELLED")


# --- presigned URLs ------------------------------------------------------------------------------------


def test_presigned_urls_expire_and_are_bound_to_their_key(api: Api) -> None:
    created = api.alice("POST", "/uploads", {"file_name": "a.mp4", "size": 1024})
    bobs = api.bob("POST", "/uploads", {"file_name": "b.mp4", "size": 1024})
    assert created.status == bobs.status == 201
    plan, bob_plan = created.body, bobs.body
    # An API URL whose key (and upload) is changed to another user's: the signature no longer matches.
    bob_url = urlsplit(bob_plan["parts"][0]["url"])
    forged = bob_url._replace(
        path=bob_url.path.replace(bob_plan["key"], plan["key"]),
        query=bob_url.query.replace(bob_plan["upload_id"], plan["upload_id"]),
    ).geturl()
    assert forged != bob_plan["parts"][0]["url"]
    assert put_part(forged, b"x" * 1024)[0] == 403
    assert api.alice("GET", f"/uploads/{plan['job']['job_id']}/parts").body["parts"] == []

    # Expiry: the API signs for PRESIGN_EXPIRY_SECONDS (900, checked above). Waiting 15 minutes is not a
    # test, so the same URL is signed here for 1 s, with the credentials the function signs with on
    # LocalStack (the test account's), for the same bucket, key, upload id and part number.
    presigner = boto3.client(
        "s3",
        endpoint_url=api.stack.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(signature_version="s3v4"),
    )
    params = {"Bucket": api.stack.uploads_bucket, "Key": plan["key"], "UploadId": plan["upload_id"], "PartNumber": 1}
    fresh = presigner.generate_presigned_url("upload_part", Params=params, ExpiresIn=60)
    short = presigner.generate_presigned_url("upload_part", Params=params, ExpiresIn=1)
    signed_at = datetime.now(UTC)
    wait_for("the short URL to expire", lambda: (datetime.now(UTC) - signed_at).total_seconds() > 2.5, 5, 0.1)
    assert put_part(short, b"x" * 1024)[0] == 403
    assert put_part(fresh, b"x" * 1024)[0] == 200, "the same URL, unexpired, is accepted"
    assert put_part(plan["parts"][0]["url"], b"y" * 1024)[0] == 200, "and so is the API's own"
    for client, job_id in ((api.alice, plan["job"]["job_id"]), (api.bob, bob_plan["job"]["job_id"])):
        gone = client("DELETE", f"/uploads/{job_id}")
        assert (gone.status, gone.body["status"]) == (200, "CANCELLED")


# --- ownership and bad input ---------------------------------------------------------------------------


def test_another_users_job_is_not_found(api: Api) -> None:
    created = api.alice("POST", "/uploads", {"file_name": "mine.webm", "size": 2048})
    assert created.status == 201
    job_id = created.body["job"]["job_id"]
    for method, path, body in (
        ("GET", f"/jobs/{job_id}", None),
        ("DELETE", f"/jobs/{job_id}", None),
        ("POST", f"/jobs/{job_id}/retry", None),
        ("GET", f"/jobs/{job_id}/events", None),
        ("GET", f"/uploads/{job_id}/parts", None),
        ("POST", f"/uploads/{job_id}/parts", {"part_numbers": [1]}),
        ("POST", f"/uploads/{job_id}/complete", {}),
        ("DELETE", f"/uploads/{job_id}", None),
    ):
        answer = api.bob(method, path, body)
        assert (answer.status, answer.body["error"]) == (404, "not_found"), (method, path, answer.body)
    assert all(job["job_id"] != job_id for job in api.bob("GET", "/jobs").body["jobs"])
    assert api.alice.job(job_id)["status"] == "UPLOADING", "bob's attempts changed nothing"
    assert api.alice("DELETE", f"/uploads/{job_id}").status == 200


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"file_name": "big.mp4", "size": 6 * 2**30}, 422, "size"),  # over the deployment's 5 GiB
        ({"file_name": "setup.exe", "size": 100}, 422, "file_name"),
        ({"file_name": "a.mp4", "size": 100, "priority": 0}, 422, "priority"),
        ({"file_name": "a.mp4", "size": 100, "priority": 11}, 422, "priority"),
        ({"file_name": "a.mp4", "size": 100, "renditions": ["4k"]}, 422, "renditions"),
        ({"file_name": "a.mp4", "size": 0}, 422, "size"),
        ({"file_name": "a.mp4", "size": 100, "part_size": 1024}, 422, "part_size"),
    ],
)
def test_bad_uploads_are_refused_naming_the_field(api: Api, body: dict[str, Any], status: int, field: str) -> None:
    answer = api.alice("POST", "/uploads", body)
    assert (answer.status, answer.body["error"], answer.field) == (status, "validation_error", field), answer.body


def test_malformed_requests_and_credentials_are_4xx(api: Api) -> None:
    malformed = api.alice("POST", "/uploads", raw=b'{"file_name": "a.mp4", "size": ')
    assert (malformed.status, malformed.body["error"]) == (400, "validation_error")
    for token in (None, "not-a-token-of-anyone-0123456789"):
        answer = http("POST", f"{api.stack.api_url}/uploads", {"file_name": "a.mp4", "size": 1}, token=token)
        assert (answer.status, answer.body["error"], answer.body["field"]) == (401, "unauthorized", "Authorization")
    assert api.alice("GET", "/jobs?limit=0").field == "limit"
    assert api.alice("GET", "/jobs?cursor=forged").field == "cursor"
    not_an_id = api.alice("GET", "/jobs/NOT-A-JOB")
    assert (not_an_id.status, not_an_id.field) == (422, "job_id")
    document = http("GET", f"{api.stack.api_url}/openapi.json")
    assert (document.status, document.body["info"]["title"]) == (200, "vodpipe"), "the document needs no token"


def test_the_authorizer_function_allows_known_tokens_only(api: Api, aws_client: Callable[..., Any]) -> None:
    lam = aws_client("lambda")
    name = next(
        f["FunctionName"]
        for page in lam.get_paginator("list_functions").paginate()
        for f in page["Functions"]
        if f["FunctionName"].startswith("VodpipePipeline-") and "Authorizer" in f["FunctionName"]
    )
    method_arn = f"arn:aws:execute-api:us-east-1:000000000000:{api.stack.api_id}/v1/GET/jobs"

    def invoke(header: str) -> dict[str, Any]:
        event = {"type": "TOKEN", "authorizationToken": header, "methodArn": method_arn}
        response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
        return {"error": response.get("FunctionError"), "payload": json.loads(response["Payload"].read())}

    allowed = invoke(f"Bearer {api.alice.token}")
    assert allowed["error"] is None, allowed
    assert allowed["payload"]["principalId"] == api.alice.owner
    assert allowed["payload"]["context"] == {"owner": api.alice.owner, "role": "user", "max_priority": 1}
    (statement,) = allowed["payload"]["policyDocument"]["Statement"]
    assert (statement["Effect"], statement["Resource"]) == ("Allow", f"{method_arn.rsplit('/v1/', 1)[0]}/v1/*")
    denied = invoke("Bearer unknown-token-0123456789abcdef")
    assert denied["error"]
    assert denied["payload"]["errorMessage"] == "Unauthorized"


# --- fuzzing -------------------------------------------------------------------------------------------


def test_schemathesis_finds_no_server_error_and_no_nonconforming_response(api: Api, tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{api.stack.api_url}/openapi.json",
        "--url", api.stack.api_url,
        "--header", f"Authorization: Bearer {api.bob.token}",
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance,negative_data_rejection,ignored_auth",
        "--max-examples", "4",
        "--seed", "20260301",
        "--generation-database", "none",
        "--workers", "2",
        "--max-time", "45",
        "--request-timeout", "30",
        "--no-color",
        "--report", "junit", "--report-dir", str(tmp_path),
    ]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=tmp_path,  # schemathesis keeps a .schemathesis/ cache in its working directory
        env=os.environ
        | {"NO_COLOR": "1", "PYTHONPATH": str(ROOT), "SCHEMATHESIS_HOOKS": "tests.integration.api.schemathesis_hooks"},
    )
    print(result.stdout[-6000:], result.stderr[-2000:])
    print(f"schemathesis took {time.monotonic() - started:.0f} s")
    assert result.returncode == 0, result.stdout[-6000:]
