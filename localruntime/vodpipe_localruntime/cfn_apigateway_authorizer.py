"""CloudFormation AWS::ApiGateway::Authorizer for LocalStack community, which ships no provider for it.

Without this, CloudFormation skips the authorizer and every method that names it fails to create. The
API Gateway service itself supports Lambda authorizers; this only wires the resource type to it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, TypedDict

import localstack.services.cloudformation.provider_utils as util
from localstack.services.cloudformation.resource_provider import (
    CloudFormationResourceProviderPlugin,
    OperationStatus,
    ProgressEvent,
    ResourceProvider,
    ResourceRequest,
)

_PATCHABLE = {
    "Name": "/name",
    "AuthorizerUri": "/authorizerUri",
    "IdentitySource": "/identitySource",
    "IdentityValidationExpression": "/identityValidationExpression",
    "AuthorizerResultTtlInSeconds": "/authorizerResultTtlInSeconds",
    "AuthorizerCredentials": "/authorizerCredentials",
    "Type": "/type",
}


class AuthorizerProperties(TypedDict, total=False):
    RestApiId: str
    AuthorizerId: str
    Name: str
    Type: str
    AuthorizerUri: str
    AuthorizerCredentials: str
    AuthorizerResultTtlInSeconds: int
    IdentitySource: str
    IdentityValidationExpression: str
    ProviderARNs: list[str]
    AuthType: str


class ApiGatewayAuthorizerProvider(ResourceProvider[AuthorizerProperties]):
    TYPE = "AWS::ApiGateway::Authorizer"
    SCHEMA = util.get_schema_path(Path(__file__))

    def create(self, request: ResourceRequest[AuthorizerProperties]) -> ProgressEvent[AuthorizerProperties]:
        model: AuthorizerProperties = request.desired_state
        api = request.aws_client_factory.apigateway
        if not model.get("Name"):
            model["Name"] = util.generate_default_name(request.stack_name, request.logical_resource_id)
        params: dict[str, Any] = {"restApiId": model["RestApiId"], "name": model["Name"], "type": model["Type"]}
        optional = {
            "AuthorizerUri": "authorizerUri",
            "AuthorizerCredentials": "authorizerCredentials",
            "IdentitySource": "identitySource",
            "IdentityValidationExpression": "identityValidationExpression",
            "ProviderARNs": "providerARNs",
            "AuthType": "authType",
        }
        for prop, arg in optional.items():
            if model.get(prop) is not None:
                params[arg] = model[prop]  # type: ignore[literal-required]
        if model.get("AuthorizerResultTtlInSeconds") is not None:
            params["authorizerResultTtlInSeconds"] = int(model["AuthorizerResultTtlInSeconds"])
        response = api.create_authorizer(**params)
        model["AuthorizerId"] = response["id"]
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)

    def read(self, request: ResourceRequest[AuthorizerProperties]) -> ProgressEvent[AuthorizerProperties]:
        raise NotImplementedError

    def update(self, request: ResourceRequest[AuthorizerProperties]) -> ProgressEvent[AuthorizerProperties]:
        model: AuthorizerProperties = request.desired_state
        previous = request.previous_state or {}
        model["AuthorizerId"] = previous["AuthorizerId"]
        patches = [
            {"op": "replace", "path": path, "value": str(model[prop])}  # type: ignore[literal-required]
            for prop, path in _PATCHABLE.items()
            if model.get(prop) is not None and model.get(prop) != previous.get(prop)
        ]
        if patches:
            request.aws_client_factory.apigateway.update_authorizer(
                restApiId=model["RestApiId"], authorizerId=model["AuthorizerId"], patchOperations=patches
            )
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)

    def delete(self, request: ResourceRequest[AuthorizerProperties]) -> ProgressEvent[AuthorizerProperties]:
        model: AuthorizerProperties = request.desired_state
        api = request.aws_client_factory.apigateway
        with contextlib.suppress(api.exceptions.NotFoundException):
            api.delete_authorizer(restApiId=model["RestApiId"], authorizerId=model["AuthorizerId"])
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)


class ApiGatewayAuthorizerProviderPlugin(CloudFormationResourceProviderPlugin):
    name = "AWS::ApiGateway::Authorizer"

    def __init__(self) -> None:
        self.factory: type[ResourceProvider[Any]] | None = None

    def load(self) -> None:
        self.factory = ApiGatewayAuthorizerProvider
