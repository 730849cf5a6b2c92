"""The S3 upload store: SDK errors become typed upload errors; presigned part URLs are SigV4 and stay in place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from lambdas.api.config import ApiConfig
from lambdas.api.models import CreateUpload
from lambdas.api.uploads import UploadService
from lambdas.storage.ports import PartsRejected, UploadNotFound, UploadStoreUnavailable
from lambdas.storage.s3_uploads import S3UploadStore
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.quotas import InMemoryQuotaStore


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
    jobs = InMemoryJobRepository(clock=lambda: now)
    service = UploadService(
        jobs, S3UploadStore(client, _s3v4()), config, quotas=InMemoryQuotaStore(jobs), clock=lambda: now
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
