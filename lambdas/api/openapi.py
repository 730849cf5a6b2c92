"""The OpenAPI document: the committed file the function serves, and its generation from the routes."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

OPENAPI_FILE = Path(__file__).with_name("openapi.json")
OPENAPI_PATH = "/openapi.json"
TITLE = "vodpipe"
API_VERSION = "1.0.0"
DESCRIPTION = (
    "Upload videos straight to S3 with presigned multipart URLs, then follow, cancel and retry the transcode "
    "jobs they start. Every route but GET /openapi.json needs `Authorization: Bearer <token>`. A caller only "
    "ever sees its own jobs: another user's job is 404, and /stats covers the caller's jobs only."
)


@cache
def committed_document() -> str:
    # The committed file (tests keep it equal to the generated one): no schema generation at cold start.
    return OPENAPI_FILE.read_text()


def generate_openapi() -> str:
    """The OpenAPI document of the routes, as committed in lambdas/api/openapi.json."""
    # Imported here: the routes import this module to serve the document.
    from lambdas.api.routes import ApiRoutes, ApiServices

    def unused() -> ApiServices:
        raise RuntimeError("generating the document needs no services")

    app = ApiRoutes(unused).app
    app.configure_openapi(
        title=TITLE,
        version=API_VERSION,
        description=DESCRIPTION,
        security_schemes={"bearerAuth": HTTPBearer(bearerFormat="opaque token")},
        security=[{"bearerAuth": []}],
    )
    document = json.loads(app.get_openapi_json_schema())
    for operations in document["paths"].values():
        for operation in operations.values():
            operation["responses"] = dict(sorted(operation["responses"].items()))
            for empty in ("204", "304"):  # no body: Powertools still infers one from the return annotation
                operation["responses"].get(empty, {}).pop("content", None)
    # Powertools adds its own validation error schemas; every error here answers ErrorBody instead.
    schemas = document["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    if '"#/components/schemas/ValidationError"' in json.dumps(document):
        raise AssertionError("an operation still refers to Powertools' validation error schema")
    return json.dumps(document, indent=2) + "\n"


if __name__ == "__main__":
    OPENAPI_FILE.write_text(generate_openapi())
    print(f"wrote {OPENAPI_FILE}")
