"""Listing cursors: a position in one owner's jobs (newest first) as an opaque, URL-safe token."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import NamedTuple

from lambdas.jobs import schema
from lambdas.jobs.model import JOB_ID_PATTERN, Job, utc_iso
from lambdas.jobs.ports import InvalidCursor

_INVALID = "cursor is not one this listing handed out"
_KEY_NAMES = frozenset({schema.PARTITION_KEY, schema.SORT_KEY, schema.BY_OWNER.partition_key, schema.BY_OWNER.sort_key})


class Position(NamedTuple):
    """Where a page ended; ordered as the listing is (descending), so later pages hold smaller positions."""

    created: str  # utc_iso(created_at): fixed width, sorts as the instant
    job_id: str

    def key(self, owner: str) -> dict[str, str]:
        """The job item's key in the by_owner index: what DynamoDB resumes a query from."""
        return {
            schema.PARTITION_KEY: schema.job_pk(self.job_id),
            schema.SORT_KEY: schema.JOB_SK,
            schema.BY_OWNER.partition_key: schema.owner_pk(owner),
            schema.BY_OWNER.sort_key: schema.owner_sk(self.created, self.job_id),
        }

    @classmethod
    def of_key(cls, key: Mapping[str, str]) -> Position:
        job_id = key[schema.PARTITION_KEY].removeprefix(schema.JOB_PK_PREFIX)
        return cls(key[schema.BY_OWNER.sort_key].removesuffix(f"#{job_id}"), job_id)


def position_of(job: Job) -> Position:
    return Position(utc_iso(job.created_at), job.job_id)


def encode_cursor(owner: str, position: Position) -> str:
    # The token is the index key itself, so a cursor handed out before a deployment still resumes after it.
    raw = json.dumps(position.key(owner), separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, owner: str) -> Position:
    """The position in a cursor, if it is a position in `owner`'s listing; else InvalidCursor."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as error:
        raise InvalidCursor(_INVALID) from error
    pk, owner_sk = schema.PARTITION_KEY, schema.BY_OWNER.sort_key
    if not (
        isinstance(value, dict)
        and value.keys() == _KEY_NAMES
        and all(isinstance(part, str) for part in value.values())
        and value[schema.BY_OWNER.partition_key] == schema.owner_pk(owner)
        and value[schema.SORT_KEY] == schema.JOB_SK
        and re.fullmatch(re.escape(schema.JOB_PK_PREFIX) + JOB_ID_PATTERN.removeprefix("^"), value[pk])
        and value[owner_sk].endswith("#" + value[pk].removeprefix(schema.JOB_PK_PREFIX))
    ):
        raise InvalidCursor(_INVALID)
    return Position.of_key(value)
