"""Authorizer: the REST token authorizer. A known bearer token -> Allow for the whole API, as its owner and role."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import APIGatewayAuthorizerTokenEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.auth.policy import allow
from lambdas.auth.ports import TokenStoreUnavailable
from lambdas.auth.tokens import authenticate
from lambdas.handlers import _wiring as wiring

logger = Logger()


class Unauthorized(Exception):
    """API Gateway answers 401 when a token authorizer fails with exactly this message."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = APIGatewayAuthorizerTokenEvent(event)
    try:
        identity = authenticate(wiring.token_store(), request.authorization_token)
    except TokenStoreUnavailable:
        # Not "Unauthorized": any other failure makes API Gateway answer 500 (AuthorizerConfigurationException)
        # for this request only, where a 401 would refuse every caller, cached, while the store is away.
        logger.exception("the token store is unavailable")
        raise
    if identity is None:
        raise Unauthorized
    logger.append_keys(owner=identity.owner, role=identity.role.value)
    return allow(request.method_arn, identity)
