"""Roles, tiers and quotas on POST /uploads: 403 above the caller's tier, 429 with Retry-After past a quota."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from lambdas.api.access import check_priority, require_admin
from lambdas.api.error_responses import documented
from lambdas.api.errors import Forbidden
from lambdas.api.models import CreateUpload
from lambdas.api.owner import Caller
from lambdas.auth.identity import Role
from lambdas.queue.config import QueueConfig
from lambdas.quotas.ports import QuotaStoreUnavailable
from tests.unit.api.conftest import ALICE, BOB, CAROL, MIB, OPS, Api, Clock, build_api

CLIP = {"file_name": "clip.mp4", "size": 12 * MIB}


@pytest.fixture
def tight(tmp_path: Path, clock: Clock) -> Api:
    """Two jobs waiting and three uploads an hour per user."""
    return build_api(tmp_path, clock, queue=QueueConfig(max_queued_jobs_per_user=2, max_uploads_per_hour=3))


# --- tiers -----------------------------------------------------------------------------------------------


def test_a_priority_above_the_callers_tier_is_403_naming_the_field(api: Api) -> None:
    answer = api.call("POST", "/uploads", CLIP | {"priority": 2}, user=CAROL)
    assert (answer.status, *answer.error()) == (403, "forbidden", "priority")
    assert answer.body["message"].startswith("priority 2 is above your tier: this token may request priority 4 to 10")
    assert api.repo.list_for_owner(CAROL)[0] == []
    assert not api.quotas.uploads, "a refused request counts against no quota"


def test_the_tier_allows_its_own_priority_and_less_urgent_ones(api: Api) -> None:
    assert api.call("POST", "/uploads", CLIP | {"priority": 4}, user=CAROL).status == 201
    assert api.call("POST", "/uploads", CLIP, user=CAROL).body["job"]["priority"] == 5
    assert api.call("POST", "/uploads", CLIP | {"priority": 10}, user=CAROL).status == 201


def test_an_admin_may_ask_for_any_priority(api: Api) -> None:
    answer = api.call("POST", "/uploads", CLIP | {"priority": 1}, user=OPS)
    assert answer.status == 201, answer.body
    assert answer.body["job"]["priority"] == 1


def test_the_upload_service_checks_the_tier_of_the_caller_it_is_given(api: Api) -> None:
    uploads = api.handler.services.uploads
    with pytest.raises(Forbidden, match="priority 3 is above your tier") as refused:
        uploads.create(Caller(owner=CAROL, max_priority=4), CreateUpload(file_name="a.mp4", size=MIB, priority=3))
    assert refused.value.field == "priority"
    admin = Caller(owner=OPS, role=Role.ADMIN, max_priority=4)
    assert uploads.create(admin, CreateUpload(file_name="a.mp4", size=MIB, priority=1)).job.priority == 1
    # A bare owner (the routes before callers existed) is a user without restriction.
    assert uploads.create(CAROL, CreateUpload(file_name="a.mp4", size=MIB, priority=1)).job.owner == CAROL


def test_a_context_without_role_or_tier_is_a_user_without_restriction(api: Api) -> None:
    # What an authorizer answer cached from before roles existed passes on.
    answer = api.call("POST", "/uploads", CLIP | {"priority": 1}, user=None, authorizer={"principalId": ALICE})
    assert answer.status == 201, answer.body
    assert answer.body["job"]["owner"] == ALICE


@pytest.mark.parametrize(
    "authorizer",
    [
        {"principalId": ALICE, "owner": ALICE, "role": "root"},
        {"principalId": ALICE, "owner": ALICE, "role": "user", "max_priority": "0"},
        {"principalId": ALICE, "owner": ALICE, "role": "user", "max_priority": "high"},
    ],
)
def test_a_context_that_does_not_read_as_a_caller_is_401(api: Api, authorizer: dict[str, str]) -> None:
    answer = api.call("GET", "/jobs", user=None, authorizer=authorizer)
    assert (answer.status, *answer.error()) == (401, "unauthorized", "Authorization")


def test_admin_routes_and_tiers_as_functions() -> None:
    user, admin = Caller(owner=ALICE, max_priority=3), Caller(owner=OPS, role=Role.ADMIN, max_priority=9)
    with pytest.raises(Forbidden, match="admin token") as refused:
        require_admin(user)
    assert refused.value.field == "Authorization"
    require_admin(admin)
    with pytest.raises(Forbidden, match=r"^priority 2 is above your tier: .* priority 3 to 10") as above:
        check_priority(user, 2, field="priority")
    assert above.value.field == "priority"
    check_priority(user, 3)
    check_priority(admin, 1)  # whatever the admin's own tier


# --- quotas ----------------------------------------------------------------------------------------------


def test_past_max_queued_jobs_per_user_an_upload_is_429_retry_after_30(tight: Api) -> None:
    first, _ = tight.upload(), tight.upload()

    refused = tight.call("POST", "/uploads", CLIP)

    assert (refused.status, *refused.error()) == (429, "too_many_requests", None)
    assert refused.headers["Retry-After"] == "30"
    assert "you have 2 jobs waiting and max_queued_jobs_per_user is 2" in refused.body["message"]
    assert tight.call("POST", "/uploads", CLIP, user=BOB).status == 201, "each user has a queue of their own"
    # A job that no longer waits frees its place.
    assert tight.call("DELETE", f"/uploads/{first['job']['job_id']}").status == 200
    assert tight.call("POST", "/uploads", CLIP).status == 201


def test_past_max_uploads_per_hour_an_upload_is_429_until_the_next_utc_hour(tight: Api, clock: Clock) -> None:
    for _ in range(3):
        job_id = tight.upload()["job"]["job_id"]
        tight.call("DELETE", f"/uploads/{job_id}")  # none left waiting: only the hourly quota applies
    clock.advance(59 * 60 + 30)  # 12:59:30

    refused = tight.call("POST", "/uploads", CLIP)

    assert (refused.status, *refused.error()) == (429, "too_many_requests", None)
    assert refused.headers["Retry-After"] == "30"
    assert refused.body["message"] == (
        "you have created 3 uploads this hour, the most max_uploads_per_hour allows: try again in 30 s (at 13:00 UTC)"
    )
    clock.advance(30)
    assert tight.call("POST", "/uploads", CLIP).status == 201


def test_the_queue_is_checked_before_the_hourly_count_so_a_refusal_spends_nothing(tight: Api) -> None:
    tight.upload(), tight.upload()
    for _ in range(3):
        assert tight.call("POST", "/uploads", CLIP).status == 429
    assert sum(tight.quotas.uploads.values()) == 2


def test_a_file_over_the_limit_is_422_and_counts_against_no_quota(api: Api) -> None:
    answer = api.call("POST", "/uploads", {"file_name": "big.mp4", "size": 10**12})
    assert (answer.status, *answer.error()) == (422, "validation_error", "size")
    assert not api.quotas.uploads


def test_every_refusal_is_counted_for_the_operators(tight: Api, clock: Clock) -> None:
    tight.upload(), tight.upload()
    for _ in range(2):
        tight.call("POST", "/uploads", CLIP)
    clock.advance(90)
    tight.call("POST", "/uploads", CLIP)
    now = clock()
    assert tight.quotas.refusals_since(now - timedelta(hours=1), now) == 3
    assert tight.quotas.refusals_since(now - timedelta(seconds=30), now) == 1


def test_a_refusal_that_cannot_be_counted_is_still_answered_429(tight: Api) -> None:
    tight.upload(), tight.upload()
    tight.quotas.fail_next["refused"] = [QuotaStoreUnavailable("ThrottlingException")]
    answer = tight.call("POST", "/uploads", CLIP)
    assert (answer.status, answer.headers["Retry-After"]) == (429, "30")
    assert len(tight.repo.list_for_owner(ALICE)[0]) == 2


@pytest.mark.parametrize("failing", ["waiting_jobs", "take_upload"])
def test_a_quota_store_outage_is_503_and_creates_nothing(api: Api, failing: str) -> None:
    api.quotas.fail_next[failing] = [QuotaStoreUnavailable("ThrottlingException")]
    answer = api.call("POST", "/uploads", CLIP)
    assert (answer.status, *answer.error()) == (503, "unavailable", None)
    assert answer.headers["Retry-After"] == "2"  # lambdas/api/errors.py UNAVAILABLE_RETRY_AFTER_S
    assert api.repo.list_for_owner(ALICE)[0] == []
    assert not api.uploads.presigned


def test_the_document_names_the_retry_after_header_of_a_429() -> None:
    answers = documented(201, "The job", 403, 429)
    assert answers[429]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    assert answers[403]["description"].startswith("The caller's token does not allow it")
    assert "headers" not in answers[403]
    assert answers[503]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
