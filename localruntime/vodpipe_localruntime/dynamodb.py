"""DynamoDB provider override backed by moto: no JVM, no download (PROVIDER_OVERRIDE_DYNAMODB=vodpipe_moto).

Every operation falls through to moto's DynamoDB backend (bundled with LocalStack as moto-ext). Less faithful
than DynamoDB Local: TTL is stored but items never expire, and DynamoDB Streams are not wired to anything.
"""

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.services.plugins import Service, aws_provider


class MotoDynamoDBProvider(DynamodbApi):
    """Implements nothing itself, so MotoFallbackDispatcher sends each operation to moto."""


@aws_provider(api="dynamodb", name="vodpipe_moto")
def dynamodb() -> Service:
    from localstack.services.moto import MotoFallbackDispatcher

    return Service.for_provider(MotoDynamoDBProvider(), dispatch_table_factory=MotoFallbackDispatcher)
