"""The owner check: the caller is the owner the token authorizer put in the request context, or the answer is 401."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from lambdas.api.errors import ErrorKind
from lambdas.api.models import ErrorBody
from lambdas.api.openapi import OPENAPI_PATH
from lambdas.auth.tokens import OWNER_PATTERN

_OWNER = "owner"


def caller(event: Mapping[str, Any]) -> str | None:
    """The owner the token authorizer (handlers/authorize.py) found for this request's credential, if one ran."""
    context = event.get("requestContext") or {}
    authorizer = context.get("authorizer") or {}
    owner = authorizer.get("owner") or authorizer.get("principalId")
    return owner if isinstance(owner, str) and owner else None


def is_public(event: Mapping[str, Any]) -> bool:
    return event.get("httpMethod") == "GET" and OPENAPI_PATH in {event.get("resource"), event.get("path")}


def _valid_owner(event: Mapping[str, Any]) -> str | None:
    owner = caller(event)
    return owner if owner is not None and re.fullmatch(OWNER_PATTERN, owner) is not None else None


def _unauthorized() -> Response[str]:
    body = ErrorBody(error=ErrorKind.UNAUTHORIZED, message="Unauthorized", field="Authorization")
    return Response(
        status_code=HTTPStatus.UNAUTHORIZED,
        content_type=content_types.APPLICATION_JSON,
        # Serialized here, as the answer always was (Powertools' serializer writes compact JSON).
        body=json.dumps(body.model_dump(mode="json")),
        headers={"WWW-Authenticate": "Bearer"},
    )


def refusal(event: Mapping[str, Any]) -> Response[str] | None:
    """The 401 for a protected request without a valid owner; None when the request may be served."""
    return None if is_public(event) or _valid_owner(event) is not None else _unauthorized()


def require_owner(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Resolver middleware: refuse the request, or record its owner for `owner_of`.

    API Gateway refuses requests without a valid token before they get here; one that arrives without the
    authorizer's context anyway (a misconfigured method) is answered 401, never served.
    """
    event = app.current_event.raw_event
    if not is_public(event):
        owner = _valid_owner(event)
        if owner is None:
            return _unauthorized()
        app.append_context(**{_OWNER: owner})  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
    return next_middleware(app)


def owner_of(app: APIGatewayRestResolver) -> str:
    """The owner `require_owner` recorded for the request being resolved."""
    owner = app.context.get(_OWNER)
    if not isinstance(owner, str):  # only reachable if a protected route ran without the middleware
        raise PermissionError("no authenticated caller")
    return owner
