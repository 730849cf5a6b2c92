"""Schemathesis hooks for the local API (loaded with SCHEMATHESIS_HOOKS by test_api.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import schemathesis

# LocalStack's own API Gateway crashes on a `multipart/form-data` Content-Type without a boundary and
# answers 500 before the function is invoked (AWS answers the function's 415). Not the API's doing.
GATEWAY_CRASH = "Error in apigateway invocation"


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    return GATEWAY_CRASH not in (response.text or "")


# API Gateway answers an over-long request line itself (414, before any function runs; its URL limit is
# 8192 characters), and LocalStack's HTTP server simply drops the connection. Requests that long test the
# gateway, not the API, so the fuzzer does not send them.
GATEWAY_URL_LIMIT = 8192


def _fits_in_a_url(values: dict[str, Any] | None) -> bool:
    return not values or len(urlencode(values, doseq=True)) < GATEWAY_URL_LIMIT // 2


@schemathesis.hook
def filter_query(context: Any, query: dict[str, Any] | None) -> bool:
    return _fits_in_a_url(query)


@schemathesis.hook
def filter_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> bool:
    return _fits_in_a_url(path_parameters)
