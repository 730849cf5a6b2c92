"""s3:ListBucket scoped to key prefixes: what makes S3 answer a missing object 404 NoSuchKey instead of 403.

S3 tells a caller that a key does not exist (GetObject/HeadObject → 404 NoSuchKey) only if the caller may list the
bucket; without s3:ListBucket it answers 403 AccessDenied, the same as a missing grant, and a "source not found"
reads as a deployment error. LocalStack enforces no IAM, so only the templates show it (tests/infrastructure).
The grant is narrowed with an `s3:prefix` condition to the prefixes the function reads: S3 evaluates that implicit
check with the requested key as the prefix (as reported in kopia/kopia#3072; not verified here, without an AWS
account: `make e2e` does not exercise it either).
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam


def listing_statement(bucket_arn: str, *prefixes: str) -> iam.PolicyStatement:
    """Allow s3:ListBucket on `bucket_arn` for keys under `prefixes` (each ends with "/") only."""
    if not prefixes or any(not p.endswith("/") for p in prefixes):
        raise ValueError(f"listing prefixes must each end with '/': {prefixes!r}")
    return iam.PolicyStatement(
        actions=["s3:ListBucket"],
        resources=[bucket_arn],
        conditions={"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}},
    )
