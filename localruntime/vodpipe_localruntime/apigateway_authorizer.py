"""Lambda TOKEN authorizers for REST APIs, which community LocalStack's gateway never runs.

LocalStack 2026.3.0 creates authorizers and attaches them to methods, but its invocation chain has no
authorizer step: every request reaches the integration unauthenticated and without
`requestContext.authorizer`. This adds that step to the chain's documented extension point
(`preprocess_request`), doing what API Gateway does for a TOKEN authorizer: read the identity
source header, invoke the authorizer function, evaluate the returned policy against the method ARN,
answer 401/403/500 as API Gateway would, and pass principalId and context on to the integration.

An authorizer that raises anything but "Unauthorized" (or cannot be invoked, or answers no policy) is a 500
AUTHORIZER_CONFIGURATION_ERROR with `{"message": null}`, as on AWS, rendered with the API's DEFAULT_5XX gateway
response (its CORS headers) when the API configures one.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
import threading
import time
from typing import Any

from localstack.runtime import hooks

LOG = logging.getLogger(__name__)

_FUNCTION_ARN = re.compile(r"/functions/(?P<arn>arn:[^/]+)/invocations")


class TokenAuthorizerHandler:
    """A rolo handler for the REST API invocation chain."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def __call__(self, chain: Any, context: Any, response: Any) -> None:
        from localstack.services.apigateway.next_gen.execute_api.gateway_response import (
            AccessDeniedError,
            AuthorizerConfigurationError,
            UnauthorizedError,
        )

        try:
            self._check(context)
        except (UnauthorizedError, AccessDeniedError, AuthorizerConfigurationError) as refusal:
            _refuse(chain, context, refusal)

    def _check(self, context: Any) -> None:
        from localstack.services.apigateway.next_gen.execute_api.gateway_response import (
            AccessDeniedError,
            AuthorizerConfigurationError,
            UnauthorizedError,
        )

        method = context.resource_method or {}
        if method.get("authorizationType") != "CUSTOM":
            return
        authorizer = context.deployment.rest_api.authorizers.get(method.get("authorizerId"))
        if not authorizer or authorizer.get("type") != "TOKEN":
            return  # REQUEST authorizers are not needed by vodpipe; leave them as LocalStack does
        header = _header_name(authorizer.get("identitySource") or "")
        token = context.invocation_request["headers"].get(header) if header else None
        if not token:
            raise UnauthorizedError("Unauthorized")
        expression = authorizer.get("identityValidationExpression")
        if expression and not re.fullmatch(expression, token):
            raise UnauthorizedError("Unauthorized")

        method_arn = _method_arn(context)
        result = self._authorize(authorizer, token, method_arn, context)
        if result is None:
            raise UnauthorizedError("Unauthorized")
        if "__config_error__" in result:
            raise AuthorizerConfigurationError()
        if not _allows(result.get("policyDocument") or {}, method_arn):
            raise AccessDeniedError("User is not authorized to access this resource with an explicit deny")
        extra = {k: str(v) for k, v in (result.get("context") or {}).items()}
        context.context_variables["authorizer"] = {"principalId": result.get("principalId"), **extra}

    def _authorize(
        self, authorizer: dict[str, Any], token: str, method_arn: str, context: Any
    ) -> dict[str, Any] | None:
        ttl = int(authorizer.get("authorizerResultTtlInSeconds") or 0)
        key = (authorizer.get("id") or "", token)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
            if ttl and cached and cached[0] > now:
                return cached[1]
        result = _invoke(authorizer, token, method_arn, context)
        if ttl and result is not None and "__config_error__" not in result:
            with self._lock:
                self._cache[key] = (now + ttl, result)
        return result


def _refuse(chain: Any, context: Any, refusal: Any) -> None:
    """Answer with the API's configured gateway response for this refusal, as API Gateway renders it.

    LocalStack's own exception handler ignores response templates (it always answers {"message": ...}),
    so a refusal with a configured JSON template is rendered here; anything else goes to LocalStack.
    """
    from localstack.services.apigateway.next_gen.execute_api.gateway_response import (
        get_gateway_response_or_default,
    )

    configured = get_gateway_response_or_default(refusal.type, context.deployment.rest_api.gateway_responses) or {}
    template = (configured.get("responseTemplates") or {}).get("application/json")
    if not template:
        raise refusal
    # An authorizer that failed (AuthorizerConfigurationError) has no message: API Gateway renders it as null.
    message = refusal.message
    body = template.replace("$context.error.messageString", json.dumps(message)).replace(
        "$context.error.message", "null" if message is None else message
    )
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": refusal.code}
    request_headers = context.invocation_request["headers"]
    for name, value in (configured.get("responseParameters") or {}).items():
        if not name.startswith("gatewayresponse.header."):
            continue
        if value.startswith("'") and value.endswith("'"):
            headers[name.removeprefix("gatewayresponse.header.")] = value[1:-1]
        elif value.startswith("method.request.header.") and (found := request_headers.get(value.split(".", 3)[3])):
            headers[name.removeprefix("gatewayresponse.header.")] = found  # e.g. the caller's Origin
    chain.respond(int(configured.get("statusCode") or refusal.status_code), body, headers)


def _header_name(identity_source: str) -> str | None:
    prefix = "method.request.header."
    return identity_source[len(prefix) :] if identity_source.startswith(prefix) else None


def _method_arn(context: Any) -> str:
    deployment = context.deployment
    path = context.invocation_request.get("path") or "/"
    if context.stage and path.startswith(f"/{context.stage}/"):
        path = path[len(context.stage) + 1 :]
    return (
        f"arn:aws:execute-api:{deployment.region}:{deployment.account_id}:{context.api_id}/"
        f"{context.stage}/{context.invocation_request['http_method']}{path}"
    )


def _invoke(authorizer: dict[str, Any], token: str, method_arn: str, context: Any) -> dict[str, Any] | None:
    from localstack.aws.connect import connect_to
    from localstack.utils.aws.arns import extract_region_from_arn

    match = _FUNCTION_ARN.search(authorizer.get("authorizerUri") or "")
    if not match:
        return {"__config_error__": True}
    function_arn = match["arn"]
    event = {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}
    try:
        client = connect_to(region_name=extract_region_from_arn(function_arn)).lambda_
        reply = client.invoke(FunctionName=function_arn, Payload=json.dumps(event).encode())
        payload = reply["Payload"].read()
    except Exception:  # the function missing, throttled, its runtime gone: API Gateway's 500 as well
        LOG.warning("authorizer %s could not be invoked", function_arn, exc_info=True)
        return {"__config_error__": True}
    if reply.get("FunctionError"):
        # API Gateway's contract: an authorizer that raises "Unauthorized" means 401; anything else is a 500.
        message = json.loads(payload or b"{}").get("errorMessage") if payload else None
        if message == "Unauthorized":
            return None
        LOG.warning("authorizer %s failed: %s", function_arn, payload[:500])
        return {"__config_error__": True}
    try:
        result = json.loads(payload)
    except ValueError:
        return {"__config_error__": True}
    return result if isinstance(result, dict) and "policyDocument" in result else {"__config_error__": True}


def _allows(policy: dict[str, Any], method_arn: str) -> bool:
    """IAM evaluation for execute-api:Invoke: an explicit Deny wins, else some Allow must match."""
    allowed = False
    statements = policy.get("Statement") or []
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action") or []
        actions = actions if isinstance(actions, list) else [actions]
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", a) or a == "*" for a in actions):
            continue
        resources = statement.get("Resource") or []
        resources = resources if isinstance(resources, list) else [resources]
        if not any(fnmatch.fnmatchcase(method_arn, r) for r in resources):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


@hooks.on_infra_start()
def register_token_authorizer() -> None:
    """Add the authorizer step to every REST API invocation (the chain's `preprocess_request` extension point)."""
    from localstack.services.apigateway.next_gen.execute_api import handlers

    handlers.preprocess_request.append(TokenAuthorizerHandler())
