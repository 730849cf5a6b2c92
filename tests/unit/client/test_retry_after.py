"""The client waits out the server's Retry-After on an idempotent call (a 503 of a throttled table, a short 429);
a long one (a quota's window) ends the call at once, and a non-idempotent call is never repeated."""

from __future__ import annotations

import httpx
import pytest

from vodpipe.client.api import ApiClient, retry_after_s
from vodpipe.client.errors import ApiError

JOB = "01JABCDEFGHJKMNPQRSTVWXYZ0"


class Waits:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def wait(self, seconds: float) -> bool:
        self.seconds.append(seconds)
        return False


def client(answers: list[httpx.Response], attempts: int = 4) -> tuple[ApiClient, Waits, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    api = ApiClient("https://api.test/v1", "token", transport=httpx.MockTransport(server), attempts=attempts)
    waits = Waits()
    api._sleeper = waits  # type: ignore[assignment]  # records the waits instead of sleeping
    return api, waits, seen


def unavailable(retry_after: str | None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(503, json={"error": "unavailable", "message": "try again"}, headers=headers)


def test_an_idempotent_call_waits_the_retry_after_then_succeeds() -> None:
    api, waits, seen = client([unavailable("2"), unavailable("3"), httpx.Response(200, json={"job_id": JOB})])
    assert api.get_job(JOB) == {"job_id": JOB}
    assert waits.seconds == [2.0, 3.0]
    assert len(seen) == 3


def test_without_retry_after_the_backoff_applies() -> None:
    api, waits, _ = client([unavailable(None), httpx.Response(200, json={"job_id": JOB})])
    api.get_job(JOB)
    assert len(waits.seconds) == 1
    assert 0 <= waits.seconds[0] <= api.backoff


def test_a_long_retry_after_ends_the_call_at_once() -> None:
    quota = httpx.Response(
        429, json={"error": "too_many_requests", "message": "quota"}, headers={"Retry-After": "3600"}
    )
    api, waits, seen = client([quota])
    with pytest.raises(ApiError) as refused:
        api.get_job(JOB)
    assert refused.value.status == 429
    assert (waits.seconds, len(seen)) == ([], 1)


def test_a_non_idempotent_call_is_not_repeated() -> None:
    api, waits, seen = client([unavailable("1")])
    with pytest.raises(ApiError):
        api.create_upload(file_name="a.mp4", size=10)
    assert (waits.seconds, len(seen)) == ([], 1)


@pytest.mark.parametrize(("value", "seconds"), [("2", 2.0), ("0", 0.0), ("1.5", 1.5), ("soon", None), ("nan", None)])
def test_retry_after_values(value: str, seconds: float | None) -> None:
    assert retry_after_s(httpx.Response(503, headers={"Retry-After": value})) == seconds
