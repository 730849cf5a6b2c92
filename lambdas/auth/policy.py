"""The REST token authorizer's answer: an IAM policy for the whole API, so a cached answer fits every route."""

from __future__ import annotations

from typing import Any

from lambdas.auth.identity import Identity


def api_wildcard_arn(method_arn: str) -> str:
    """`arn:aws:execute-api:<region>:<account>:<api>/<stage>/*` from the ARN of the method called.

    API Gateway caches the answer per token (results_cache_ttl) and reuses it for other methods: a
    policy naming only the method called would deny the next route the same token calls.
    """
    prefix, _, path = method_arn.partition("/")
    stage = path.split("/", 1)[0]
    if not prefix.startswith("arn:") or not stage:
        raise ValueError(f"not an execute-api method ARN: {method_arn!r}")
    return f"{prefix}/{stage}/*"


def allow(method_arn: str, identity: Identity) -> dict[str, Any]:
    return {
        "principalId": identity.owner,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": api_wildcard_arn(method_arn)}
            ],
        },
        # Reaches the API function as requestContext.authorizer.{owner,role,max_priority} (beside principalId),
        # every value as a string. Cached with the policy: a changed role or tier applies once the cache expires.
        "context": identity.context(),
    }
