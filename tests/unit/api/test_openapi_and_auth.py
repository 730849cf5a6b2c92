"""The committed OpenAPI document, the token authorizer, tokens as `vodpipe/local/users.py` stores them, adapters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from lambdas.api.app import OPENAPI_FILE, generate_openapi
from lambdas.api.config import ApiConfig
from lambdas.api.models import CreateUpload
from lambdas.api.ports import PartsRejected, UploadNotFound, UploadStoreUnavailable, WorkflowUnavailable
from lambdas.api.s3_uploads import S3UploadStore
from lambdas.api.stepfunctions import StepFunctionsWorkflow
from lambdas.api.uploads import UploadService
from lambdas.auth.policy import allow, api_wildcard_arn
from lambdas.auth.tokens import DynamoDBTokenStore, InMemoryTokenStore, authenticate, bearer_token
from lambdas.handlers import _wiring as wiring
from lambdas.handlers import authorize
from lambdas.jobs.memory import InMemoryJobRepository
from tests.unit.api.conftest import Api
from vodpipe.local.users import create_token

METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/GET/jobs/01ABC"
MACHINE = "arn:aws:states:us-east-1:000000000000:stateMachine:transcode"


def test_the_committed_openapi_document_is_the_generated_one() -> None:
    assert OPENAPI_FILE.read_text() == generate_openapi(), "run: .venv/bin/python -m lambdas.api.app"


def test_the_document_is_served_without_a_token_and_lists_every_route(api: Api) -> None:
    answer = api.call("GET", "/openapi.json", user=None)
    assert answer.status == 200
    assert answer.body == json.loads(OPENAPI_FILE.read_text())
    operations = {(path, method) for path, item in answer.body["paths"].items() for method in item}
    assert operations == {
        ("/uploads", "post"),
        ("/uploads/{job_id}/parts", "get"),
        ("/uploads/{job_id}/parts", "post"),
        ("/uploads/{job_id}/complete", "post"),
        ("/uploads/{job_id}", "delete"),
        ("/jobs", "get"),
        ("/jobs/{job_id}", "get"),
        ("/jobs/{job_id}", "delete"),
        ("/jobs/{job_id}/retry", "post"),
        ("/jobs/{job_id}/events", "get"),
        ("/stats", "get"),
    }
    for item in answer.body["paths"].values():
        for operation in item.values():
            for code in ("401", "422"):
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    assert answer.body["security"] == [{"bearerAuth": []}]
    assert "execution_arn" not in answer.body["components"]["schemas"]["PublicJob"]["properties"]


# --- tokens and the authorizer -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abcdefghijklmnop", "abcdefghijklmnop"),
        ("bearer   abcdefghijklmnop ", "abcdefghijklmnop"),
        ("Bearer short", None),
        ("Token abcdefghijklmnop", None),
        ("Bearer abc def ghi jkl mno", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_tokens_are_read_strictly(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_owners_that_are_not_path_safe_are_never_authenticated() -> None:
    tokens = InMemoryTokenStore()
    tokens.add("good-token-000000000", "alice")
    tokens.add("bad-token-0000000000", "../bob")
    assert authenticate(tokens, "Bearer good-token-000000000") == "alice"
    assert authenticate(tokens, "Bearer bad-token-0000000000") is None


def test_the_policy_covers_the_whole_stage_so_a_cached_answer_fits_every_route() -> None:
    assert api_wildcard_arn(METHOD_ARN) == "arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/*"
    policy = allow(METHOD_ARN, "alice")
    assert policy["principalId"] == "alice"
    assert policy["context"] == {"owner": "alice"}
    assert policy["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": api_wildcard_arn(METHOD_ARN)}
    ]
    with pytest.raises(ValueError, match="method ARN"):
        api_wildcard_arn("not-an-arn")


@dataclass
class FakeContext:
    function_name: str = "authorizer"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:authorizer"
    aws_request_id: str = "req-1"


def test_the_authorizer_allows_known_tokens_and_refuses_others(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = InMemoryTokenStore()
    tokens.add("alice-token-0123456789", "alice")
    monkeypatch.setattr(wiring, "token_store", lambda: tokens)

    def event(header: str) -> dict[str, Any]:
        return {"type": "TOKEN", "authorizationToken": header, "methodArn": METHOD_ARN}

    answer = authorize.handler(event("Bearer alice-token-0123456789"), FakeContext())  # type: ignore[arg-type]
    assert answer == allow(METHOD_ARN, "alice")
    for header in ("Bearer someone-elses-token-000", "Basic abc", ""):
        with pytest.raises(authorize.Unauthorized, match=r"^Unauthorized$"):
            authorize.handler(event(header), FakeContext())  # type: ignore[arg-type]


class FakeDynamoDB:
    """put_item / get_item / delete_item over a dict, as much of DynamoDB as tokens need."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def put_item(self, TableName: str, Item: dict[str, Any], **_: Any) -> None:
        self.items[(Item["pk"]["S"], Item["sk"]["S"])] = Item

    def get_item(self, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        item = self.items.get((Key["pk"]["S"], Key["sk"]["S"]))
        return {"Item": item} if item else {}


def test_a_token_made_by_users_py_is_found_by_the_authorizers_store() -> None:
    client = FakeDynamoDB()
    token = create_token(client, "jobs", "alice")
    assert len(token) >= 40
    ((pk, sk),) = client.items
    assert pk.startswith("TOKEN#")
    assert token not in pk
    assert sk == "TOKEN"
    store = DynamoDBTokenStore(client, "jobs")  # type: ignore[arg-type]
    assert authenticate(store, f"Bearer {token}") == "alice"
    assert authenticate(store, f"Bearer {token}x") is None
    with pytest.raises(ValueError, match="owner"):
        create_token(client, "jobs", "alice/../bob")


# --- adapters: SDK errors become typed errors ----------------------------------------------------------


def _s3() -> Any:
    return boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")


@pytest.mark.parametrize(
    ("code", "raised"),
    [("NoSuchUpload", UploadNotFound), ("InvalidPart", PartsRejected), ("EntityTooSmall", PartsRejected),
     ("SlowDown", UploadStoreUnavailable)],
)  # fmt: skip
def test_s3_upload_errors_are_typed(code: str, raised: type[Exception]) -> None:
    client = _s3()
    with Stubber(client) as stub:
        stub.add_client_error("complete_multipart_upload", service_error_code=code, http_status_code=400)
        with pytest.raises(raised):
            S3UploadStore(client).complete("b", "k", "u", [(1, "etag")])


def test_aborting_an_upload_that_is_gone_is_fine_and_parts_are_listed_across_pages() -> None:
    client = _s3()
    with Stubber(client) as stub:
        stub.add_client_error("abort_multipart_upload", service_error_code="NoSuchUpload", http_status_code=404)
        stub.add_response(
            "list_parts",
            {"Parts": [{"PartNumber": 2, "ETag": '"b"', "Size": 5}], "IsTruncated": True, "NextPartNumberMarker": 2},
        )
        stub.add_response("list_parts", {"Parts": [{"PartNumber": 3, "ETag": '"c"', "Size": 1}], "IsTruncated": False})
        store = S3UploadStore(client)
        store.abort("b", "k", "u")
        assert [(p.part_number, p.etag) for p in store.list_parts("b", "k", "u")] == [(2, "b"), (3, "c")]


def _s3v4() -> Any:
    """The presigner as the wiring builds it (lambdas/handlers/_wiring.py): Signature Version 4."""
    return boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
        config=Config(signature_version="s3v4"),
    )


def test_presigned_part_urls_are_sigv4_expire_as_configured_and_stay_under_the_callers_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):  # AWS's own URL shape, not a local endpoint's
        monkeypatch.delenv(name, raising=False)
    client = _s3()
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    config = ApiConfig(uploads_bucket="vodpipe-uploads", outputs_bucket="vodpipe-outputs", presign_expiry_seconds=900)
    service = UploadService(
        InMemoryJobRepository(clock=lambda: now), S3UploadStore(client, _s3v4()), config, clock=lambda: now
    )
    created = {}
    with Stubber(client) as stub:
        for owner in ("alice", "bob"):
            stub.add_response("create_multipart_upload", {"UploadId": f"up-{owner}"})
            created[owner] = service.create(owner, CreateUpload(file_name="clip.mp4", size=12 * 2**20))

    for owner, answer in created.items():
        assert answer.key == f"uploads/{owner}/{answer.job.job_id}/source"
        assert answer.expires_at == now + timedelta(seconds=900)
        assert [part.part_number for part in answer.parts] == [1, 2]
        for part in answer.parts:
            url = urlsplit(part.url)
            query = parse_qs(url.query)
            assert url.netloc == "vodpipe-uploads.s3.amazonaws.com"
            key = unquote(url.path).removeprefix("/")
            assert key == answer.key
            assert key.startswith(f"uploads/{owner}/")
            assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
            assert query["X-Amz-Expires"] == ["900"]
            assert query["X-Amz-Credential"][0].endswith("/us-east-1/s3/aws4_request")
            assert "Signature" not in query  # no Signature Version 2 leftovers
            assert "Expires" not in query
            assert query["uploadId"] == [f"up-{owner}"]
            assert query["partNumber"] == [str(part.part_number)]


def _sfn() -> Any:
    return boto3.client("stepfunctions", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")


def test_starting_an_attempt_again_answers_the_same_execution() -> None:
    client = _sfn()
    with Stubber(client) as stub:
        stub.add_client_error("start_execution", service_error_code="ExecutionAlreadyExists", http_status_code=400)
        arn = StepFunctionsWorkflow(client, MACHINE).start("J-r1", {"a": 1})
    assert arn == "arn:aws:states:us-east-1:000000000000:execution:transcode:J-r1"


def test_stopping_a_gone_execution_is_fine_and_throttling_is_unavailable() -> None:
    client = _sfn()
    with Stubber(client) as stub:
        stub.add_client_error("stop_execution", service_error_code="ExecutionDoesNotExist", http_status_code=400)
        stub.add_client_error("start_execution", service_error_code="ThrottlingException", http_status_code=400)
        workflow = StepFunctionsWorkflow(client, MACHINE)
        workflow.stop(f"{MACHINE.replace('stateMachine', 'execution')}:x", cause="test")
        with pytest.raises(WorkflowUnavailable):
            workflow.start("J-r1", {})


def test_the_handler_serves_the_document_without_building_any_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    from lambdas.handlers import jobs_api

    def no_services() -> Any:
        raise AssertionError("a public route must not need the services")

    monkeypatch.setattr(jobs_api, "services", no_services)
    jobs_api.api.cache_clear()
    event = {"resource": "/openapi.json", "path": "/openapi.json", "httpMethod": "GET", "headers": {}, "body": None}
    try:
        response = jobs_api.handler(event, FakeContext())  # type: ignore[arg-type]
    finally:
        jobs_api.api.cache_clear()
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["openapi"] == "3.1.0"
