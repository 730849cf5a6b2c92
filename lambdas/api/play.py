"""GET /play/{job_id}/{file+}?exp=…&sig=…: a private job's manifest, its URIs signed (no token authorizer: the
play token in the query is the credential). API Gateway proxy event in, proxy answer out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger

from lambdas.api.errors import ErrorKind
from lambdas.playback.ports import ManifestNotFound, PlaybackUnavailable
from lambdas.playback.rewrite import ForeignUri
from lambdas.playback.service import PrivatePlayback
from lambdas.playback.tokens import TokenExpired, TokenRejected

logger = Logger(child=True)

# Browsers' players fetch the manifest from another origin (the page's); nothing here depends on cookies.
_CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS"}


def _error(status: HTTPStatus, kind: ErrorKind, message: str, field: str | None = None) -> dict[str, Any]:
    return {
        "statusCode": int(status),
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store", **_CORS},
        "body": json.dumps({"error": kind.value, "message": message, "field": field}),
    }


def answer_play(service: PrivatePlayback | None, event: Mapping[str, Any]) -> dict[str, Any]:  # noqa: PLR0911 - one answer per outcome
    """`service` None: the deployment signs nothing, so no link of it can be valid."""
    if event.get("httpMethod") not in {"GET", "HEAD"}:
        return _error(HTTPStatus.METHOD_NOT_ALLOWED, ErrorKind.VALIDATION_ERROR, "only GET")
    if service is None:
        return _error(HTTPStatus.NOT_FOUND, ErrorKind.NOT_FOUND, "this deployment has no private playback")
    path = event.get("pathParameters") or {}
    query = event.get("queryStringParameters") or {}
    job_id, file = str(path.get("job_id") or ""), str(path.get("file") or "")
    try:
        served = service.serve(job_id, file, query.get("exp"), query.get("sig"))
    except TokenExpired:
        return _error(HTTPStatus.FORBIDDEN, ErrorKind.FORBIDDEN, "this link has expired: ask the API for a new one")
    except TokenRejected:
        # One answer for tampered, foreign and malformed links: nothing to learn by probing.
        return _error(HTTPStatus.FORBIDDEN, ErrorKind.FORBIDDEN, "this link is not valid", "sig")
    except ManifestNotFound:
        return _error(HTTPStatus.NOT_FOUND, ErrorKind.NOT_FOUND, "no such manifest (the job may have been removed)")
    except PlaybackUnavailable:
        logger.exception("private playback unavailable")
        return _error(HTTPStatus.SERVICE_UNAVAILABLE, ErrorKind.UNAVAILABLE, "try again shortly")
    except ForeignUri:
        logger.exception("a stored manifest could not be signed", extra={"job_id": job_id, "file": file})
        return _error(HTTPStatus.INTERNAL_SERVER_ERROR, ErrorKind.INTERNAL_ERROR, "this manifest cannot be served")
    return {
        "statusCode": 200,
        # Each answer holds signed URLs of its own expiry: never cached by a shared cache.
        "headers": {"Content-Type": served.content_type, "Cache-Control": "private, no-store", **_CORS},
        "body": "" if event.get("httpMethod") == "HEAD" else served.body,
    }
