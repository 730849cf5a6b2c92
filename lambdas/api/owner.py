"""The owner check: the caller is who the token authorizer put in the request context, or the answer is 401."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from lambdas.api.errors import ErrorKind
from lambdas.api.models import ErrorBody
from lambdas.api.openapi import OPENAPI_PATH
from lambdas.auth.identity import Identity

# The caller of a request: the identity its token stands for (owner, role, max_priority; `is_admin`), as the
# authorizer (handlers/authorize.py) passed it on. A context without a role is a user's, without a tier
# unrestricted (tokens made before roles existed, or an authorizer answer cached from before).
Caller = Identity

_CALLER = "caller"


def caller(event: Mapping[str, Any]) -> Caller | None:
    """Who the token authorizer found for this request's credential, if one ran and its context is valid."""
    context = event.get("requestContext") or {}
    authorizer = context.get("authorizer") or {}
    return Caller.from_context(authorizer) if isinstance(authorizer, Mapping) else None


def is_public(event: Mapping[str, Any]) -> bool:
    return event.get("httpMethod") == "GET" and OPENAPI_PATH in {event.get("resource"), event.get("path")}


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
    """The 401 for a protected request without a valid caller; None when the request may be served."""
    return None if is_public(event) or caller(event) is not None else _unauthorized()


def require_owner(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Resolver middleware: refuse the request, or record its caller for `caller_of` and `owner_of`.

    API Gateway refuses requests without a valid token before they get here; one that arrives without the
    authorizer's context anyway (a misconfigured method), or with a context that does not read as a caller,
    is answered 401, never served.
    """
    event = app.current_event.raw_event
    if not is_public(event):
        found = caller(event)
        if found is None:
            return _unauthorized()
        app.append_context(**{_CALLER: found})  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
    return next_middleware(app)


def caller_of(app: APIGatewayRestResolver) -> Caller:
    """The caller `require_owner` recorded for the request being resolved."""
    found = app.context.get(_CALLER)
    if not isinstance(found, Identity):  # only reachable if a protected route ran without the middleware
        raise PermissionError("no authenticated caller")
    return found


def owner_of(app: APIGatewayRestResolver) -> str:
    """The owner of the request being resolved (its caller's)."""
    return caller_of(app).owner
