"""Fault injection for tests: chosen operations of S3, DynamoDB, Step Functions, Lambda… answer their own
throttling or server errors, at a rate, for a while (a test-only endpoint of our LocalStack; nothing in the Lambdas).

`POST /_vodpipe/faults` adds rules (one, a list, or `{"rules": [...]}`; fields in fault_rules.py), `GET` lists them
with how many requests each matched and failed (per calling function and operation), `DELETE` clears them and
answers the same. Without rules the gateway step returns at once. A request is matched after LocalStack parsed it
(service and operation known) and before its provider runs, and is refused by raising the service's error, which
LocalStack serializes with the service's own serializer (S3 XML, DynamoDB's JSON `__type`, Lambda's REST JSON…).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from localstack.http import Request, Response, route
from localstack.runtime import hooks

from vodpipe_localruntime.fault_rules import Caller, InvalidRule, RuleBook, function_from_assumed_role, parse_rules

LOG = logging.getLogger(__name__)
PATH = "/_vodpipe/faults"
RULES = RuleBook()


class _Callers:
    """Access key id -> the Lambda function whose session it belongs to (LocalStack's STS names the session after
    the function), cached: keys are created once per execution environment."""

    def __init__(self) -> None:
        self._known: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def of(self, context: Any) -> Caller:
        if context.is_internal_call:
            principal = (context.internal_request_params or {}).get("service_principal")
            return Caller("internal", principal=str(principal) if principal else None)
        from localstack.utils.aws.request_context import extract_access_key_id_from_auth_header

        key = extract_access_key_id_from_auth_header(context.request.headers)
        if not key:
            return Caller("external")  # presigned URLs and anonymous requests: a client's, never a function's
        with self._lock:
            if key not in self._known:
                self._known[key] = _session_function(key)
            function = self._known[key]
        return Caller("function", function) if function else Caller("external")


def _session_function(access_key_id: str) -> str | None:
    try:
        from localstack.services.sts.models import sts_stores

        credentials = sts_stores[_DEFAULT_ACCOUNT]["us-east-1"].credentials.get(access_key_id)
    except Exception:  # the STS store's layout is LocalStack's; never break a request over it
        LOG.debug("no STS session for %s", access_key_id, exc_info=True)
        return None
    return function_from_assumed_role(getattr(credentials, "arn", None))


_DEFAULT_ACCOUNT = "000000000000"  # credentials are a cross-account attribute: any account's store holds them
CALLERS = _Callers()


def inject_faults(chain: Any, context: Any, response: Any) -> None:
    """The gateway step (after the request is parsed): raise the first matching rule's error, if it fires."""
    if not RULES or context.service is None or context.operation is None:
        return
    from localstack.aws.api import CommonServiceException

    fault = RULES.decide(context.service.service_name, context.operation.name, CALLERS.of(context), time.monotonic())
    if fault is not None:
        raise CommonServiceException(
            fault.code, fault.message, status_code=fault.status, sender_fault=fault.sender_fault
        )


class FaultsEndpoint:
    """`/_vodpipe/faults`: POST adds rules, GET lists them with their counts, DELETE clears them."""

    @route(PATH, methods=["POST"])
    def add(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data() or b"null")
            rules = RULES.add(parse_rules(body), time.monotonic())
        except (ValueError, InvalidRule) as error:
            return Response.for_json({"error": str(error)}, status=400)
        now = time.monotonic()
        LOG.info("fault rules added: %s", [rule.describe(now) for rule in rules])
        return Response.for_json({"rules": [rule.describe(now) for rule in rules]}, status=201)

    @route(PATH, methods=["GET"])
    def show(self, request: Request) -> Response:
        now = time.monotonic()
        return Response.for_json({"rules": [rule.describe(now) for rule in RULES.snapshot()]})

    @route(PATH, methods=["DELETE"])
    def clear(self, request: Request) -> Response:
        now = time.monotonic()
        return Response.for_json({"rules": [rule.describe(now) for rule in RULES.clear()]})


@hooks.on_infra_start()
def register_fault_injection() -> None:
    """Add the fault step to the gateway's chain (its `serve_custom_service_request_handlers` extension point, which
    runs once the service request is parsed and before it is routed to the provider) and the endpoint's routes."""
    from localstack.aws import handlers
    from localstack.services.edge import ROUTER

    handlers.serve_custom_service_request_handlers.append(inject_faults)
    ROUTER.add(FaultsEndpoint())
