"""The listing cursor codec both repositories use: its token is the by_owner index key, so it survives deploys."""

from __future__ import annotations

import base64
import json

import pytest

from lambdas.jobs.cursor import Position, decode_cursor, encode_cursor, position_of
from lambdas.jobs.model import utc_iso
from lambdas.jobs.ports import InvalidCursor
from tests.contract.job_repository_contract import make_job


def test_a_cursor_round_trips_for_its_owner() -> None:
    job = make_job()
    position = position_of(job)
    assert position == Position(utc_iso(job.created_at), job.job_id)
    assert decode_cursor(encode_cursor(job.owner, position), job.owner) == position


def test_the_token_is_the_index_key_dynamodb_resumes_from() -> None:
    job = make_job()
    cursor = encode_cursor(job.owner, position_of(job))
    created = utc_iso(job.created_at)
    assert json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))) == {
        "pk": f"JOB#{job.job_id}",
        "sk": "JOB",
        "gsi1pk": f"OWNER#{job.owner}",
        "gsi1sk": f"{created}#{job.job_id}",
    }
    assert "=" not in cursor


def test_a_cursor_is_refused_for_another_owner() -> None:
    job = make_job()
    with pytest.raises(InvalidCursor):
        decode_cursor(encode_cursor(job.owner, position_of(job)), "someone-else")


def test_later_pages_hold_smaller_positions() -> None:
    older, newer = Position("2025-03-01T12:00:00.000000Z", "B" * 26), Position("2025-03-01T12:00:01.000000Z", "A" * 26)
    assert older < newer
