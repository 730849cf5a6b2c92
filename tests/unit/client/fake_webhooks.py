"""The webhook routes of the REST API (issue 12's contract) for the fake API, until the function serves them itself.

Answers as the contract and the API's document say: `POST /webhooks` (201, the secret once; 422 naming `url` or
`events`; 429 past the endpoint limit), `GET /webhooks`, `GET` and `DELETE /webhooks/{id}` (204),
`POST /webhooks/{id}/enable`, `/rotate-secret`, `/test` (202), `GET /webhooks/{id}/deliveries?limit=&cursor=`
(newest first) and `POST /webhooks/{id}/deliveries/{delivery_id}/replay` (202); another owner's endpoint is 404,
a test or replay to a disabled one 409. URLs are checked by the real egress policy (lambdas/webhooks/egress.py)
over `HOSTS` instead of DNS.

Departures, for the tests: nothing is sent. A look at an endpoint's deliveries makes the attempts that are due, as
the sender would have by then, each answered by the next of `answers` (a status code, or None for a timeout;
200 once they run out); a failed attempt is due again at once, and the last of `max_attempts` leaves it dead.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from secrets import token_hex
from typing import Any

from lambdas.feed.model import EventType
from lambdas.jobs.model import utc_iso, utc_now
from lambdas.webhooks.egress import EgressPolicy, EgressRefused, check_url
from lambdas.webhooks.model import delivery_id_of, new_endpoint_id
from lambdas.webhooks.signing import new_secret

Json = dict[str, Any]
Answer = tuple[int, Json | None]

# What the fake's resolver knows; any other host does not resolve.
HOSTS = {"hooks.example.com": ["93.184.215.14"], "intranet.example.com": ["10.1.2.3"]}
ALL, FAMILY = "*", ".*"
TYPES = frozenset(str(t) for t in EventType)
FAMILIES = frozenset(t.split(".", 1)[0] for t in TYPES)
PREVIOUS_SECRET_VALID = timedelta(hours=24)
MAX_DESCRIPTION = 500

_ROUTES: tuple[tuple[str, str, str], ...] = (
    ("POST", r"/webhooks", "create"),
    ("GET", r"/webhooks", "list"),
    ("GET", r"/webhooks/(?P<wid>[^/]+)", "show"),
    ("DELETE", r"/webhooks/(?P<wid>[^/]+)", "delete"),
    ("POST", r"/webhooks/(?P<wid>[^/]+)/enable", "enable"),
    ("POST", r"/webhooks/(?P<wid>[^/]+)/rotate-secret", "rotate"),
    ("POST", r"/webhooks/(?P<wid>[^/]+)/test", "test"),
    ("GET", r"/webhooks/(?P<wid>[^/]+)/deliveries", "deliveries"),
    ("POST", r"/webhooks/(?P<wid>[^/]+)/deliveries/(?P<did>[^/]+)/replay", "replay"),
)
# The routes as the OpenAPI document spells them (what test_fake_parity.py holds against the real document).
ROUTES = (
    ("POST", "/webhooks"),
    ("GET", "/webhooks"),
    ("GET", "/webhooks/{webhook_id}"),
    ("DELETE", "/webhooks/{webhook_id}"),
    ("POST", "/webhooks/{webhook_id}/enable"),
    ("POST", "/webhooks/{webhook_id}/rotate-secret"),
    ("POST", "/webhooks/{webhook_id}/test"),
    ("GET", "/webhooks/{webhook_id}/deliveries"),
    ("POST", "/webhooks/{webhook_id}/deliveries/{delivery_id}/replay"),
)


def resolve(host: str, port: int) -> list[str]:
    if host not in HOSTS:
        raise OSError(f"[Errno -2] Name or service not known: {host}")
    return HOSTS[host]


def error(status: int, kind: str, message: str, field: str | None = None) -> Answer:
    return status, {"error": kind, "message": message, "field": field}


@dataclass
class Endpoint:
    id: str
    owner: str
    url: str
    events: list[str]
    description: str
    secret: str
    created_at: datetime
    updated_at: datetime
    status: str = "enabled"
    disabled_reason: str | None = None

    def view(self) -> Json:
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "description": self.description,
            "status": self.status,
            "disabled_reason": self.disabled_reason,
            "created_at": utc_iso(self.created_at),
            "updated_at": utc_iso(self.updated_at),
            "failing_since": None,
            "last_success_at": None,
        }


@dataclass
class Delivery:
    id: str
    event_id: str
    event_type: str
    created_at: datetime
    updated_at: datetime
    status: str = "pending"
    attempts: list[Json] = field(default_factory=list)
    round_attempts: int = 0
    next_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_latency_ms: int | None = None
    last_error: str | None = None

    def view(self) -> Json:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "status": self.status,
            "attempt_count": len(self.attempts),
            "next_attempt_at": None if self.next_attempt_at is None else utc_iso(self.next_attempt_at),
            "last_status_code": self.last_status_code,
            "last_latency_ms": self.last_latency_ms,
            "last_error": self.last_error,
            "created_at": utc_iso(self.created_at),
            "updated_at": utc_iso(self.updated_at),
            "attempts": [dict(a) for a in self.attempts],
        }


@dataclass
class FakeWebhooks:
    max_endpoints: int = 3
    max_attempts: int = 8
    answers: deque[int | None] = field(default_factory=deque)  # what the receivers answer, attempt by attempt
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    deliveries: dict[str, dict[str, Delivery]] = field(default_factory=dict)  # endpoint id -> delivery id -> …

    def handle(self, owner: str, method: str, path: str, query: dict[str, list[str]], body: Any) -> Answer | None:
        """The answer to a webhook route (status, JSON body or None), or None when `path` is not one."""
        for route_method, pattern, name in _ROUTES:
            matched = re.fullmatch(pattern, path)
            if matched and method == route_method:
                params = matched.groupdict()
                if "wid" in params:
                    endpoint = self.endpoints.get(params["wid"])
                    if endpoint is None or endpoint.owner != owner:
                        return error(404, "not_found", f"webhook endpoint {params['wid']} not found")
                    params["wid"] = endpoint.id
                handler = getattr(self, f"_{name}")
                return handler(owner, query=query, body=body, **params)  # type: ignore[no-any-return]
        if path == "/webhooks" or path.startswith("/webhooks/"):
            return error(404, "not_found", f"no route {method} {path}")
        return None

    # -- the routes -------------------------------------------------------------------------------------
    def _create(self, owner: str, *, body: Any, **_: Any) -> Answer:
        if not isinstance(body, dict):
            return error(422, "validation_error", "the body must be a JSON object")
        url = body.get("url")
        if not isinstance(url, str):
            return error(422, "validation_error", "url: Field required", "url")
        try:
            check_url(url, EgressPolicy(allow_insecure=False), resolve)
        except EgressRefused as exc:
            return error(422, "validation_error", f"url: {exc}", "url")
        events = body.get("events", [ALL])
        if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
            return error(422, "validation_error", "events: a list of event types", "events")
        for pattern in events:
            known = pattern == ALL or pattern in TYPES or (pattern.endswith(FAMILY) and pattern[:-2] in FAMILIES)
            if not known:
                return error(422, "validation_error", f"events: unknown event type {pattern!r}", "events")
        description = body.get("description", "")
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            return error(422, "validation_error", f"description: at most {MAX_DESCRIPTION} characters", "description")
        if sum(e.owner == owner for e in self.endpoints.values()) >= self.max_endpoints:
            return error(429, "too_many_requests", f"at most {self.max_endpoints} webhook endpoints: delete one first")
        now = utc_now()
        endpoint = Endpoint(
            id=new_endpoint_id(now),
            owner=owner,
            url=url,
            events=list(dict.fromkeys(events)),
            description=description,
            secret=new_secret(),
            created_at=now,
            updated_at=now,
        )
        self.endpoints[endpoint.id] = endpoint
        self.deliveries[endpoint.id] = {}
        return 201, {"webhook": endpoint.view(), "secret": endpoint.secret}

    def _list(self, owner: str, **_: Any) -> Answer:
        mine = sorted((e for e in self.endpoints.values() if e.owner == owner), key=lambda e: e.created_at)
        return 200, {"webhooks": [e.view() for e in mine]}

    def _show(self, owner: str, *, wid: str, **_: Any) -> Answer:
        return 200, self.endpoints[wid].view()

    def _enable(self, owner: str, *, wid: str, **_: Any) -> Answer:
        endpoint = self.endpoints[wid]
        endpoint.status, endpoint.disabled_reason, endpoint.updated_at = "enabled", None, utc_now()
        return 200, endpoint.view()

    def _delete(self, owner: str, *, wid: str, **_: Any) -> Answer:
        del self.endpoints[wid]
        self.deliveries.pop(wid, None)
        return 204, None

    def _rotate(self, owner: str, *, wid: str, **_: Any) -> Answer:
        endpoint, now = self.endpoints[wid], utc_now()
        endpoint.secret, endpoint.updated_at = new_secret(), now
        expires = utc_iso(now + PREVIOUS_SECRET_VALID)
        return 200, {"webhook": endpoint.view(), "secret": endpoint.secret, "previous_secret_expires_at": expires}

    def _disabled(self, wid: str) -> Answer | None:
        endpoint = self.endpoints[wid]
        if endpoint.status == "enabled":
            return None
        return error(409, "conflict", f"webhook endpoint {wid} is disabled: {endpoint.disabled_reason or 'by you'}")

    def _test(self, owner: str, *, wid: str, **_: Any) -> Answer:
        if refused := self._disabled(wid):
            return refused
        now, event_id = utc_now(), "evt_" + token_hex(16)
        delivery = Delivery(
            id=delivery_id_of(wid, event_id, now),
            event_id=event_id,
            event_type=str(EventType.WEBHOOK_TEST),
            created_at=now,
            updated_at=now,
            next_attempt_at=now,
        )
        self.deliveries[wid][delivery.id] = delivery
        return 202, {"delivery": delivery.view()}

    def _deliveries(self, owner: str, *, wid: str, query: dict[str, list[str]], **_: Any) -> Answer:
        limit_text, cursor = query.get("limit", ["20"])[-1], query.get("cursor", [None])[-1]
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
            return error(422, "validation_error", "limit: Input should be from 1 to 100", "limit")
        newest_first = sorted(self.deliveries[wid].values(), key=lambda d: d.id, reverse=True)
        for delivery in newest_first:
            self._attempt(wid, delivery)
        if cursor is not None:
            if cursor not in self.deliveries[wid]:
                return error(422, "validation_error", "cursor is not one this listing handed out", "cursor")
            newest_first = [d for d in newest_first if d.id < cursor]
        page = newest_first[: int(limit_text)]
        more = len(newest_first) > len(page)
        return 200, {"deliveries": [d.view() for d in page], "next_cursor": page[-1].id if more else None}

    def _replay(self, owner: str, *, wid: str, did: str, **_: Any) -> Answer:
        delivery = self.deliveries[wid].get(did)
        if delivery is None:
            return error(404, "not_found", f"delivery {did} not found")
        if refused := self._disabled(wid):
            return refused
        now = utc_now()
        delivery.status, delivery.round_attempts = "pending", 0
        delivery.next_attempt_at = delivery.updated_at = now
        return 202, {"delivery": delivery.view()}

    # -- what the sender would have done --------------------------------------------------------------
    def _attempt(self, wid: str, delivery: Delivery) -> None:
        endpoint = self.endpoints[wid]
        if delivery.status != "pending" or endpoint.status != "enabled":
            return
        now = utc_now()
        code = self.answers.popleft() if self.answers else 200
        problem = "timed out after 10 s" if code is None else None
        latency = 10_000 if code is None else 42
        number = len(delivery.attempts) + 1
        attempt = {"number": number, "at": utc_iso(now), "status_code": code, "latency_ms": latency, "error": problem}
        delivery.attempts.append(attempt)
        delivery.round_attempts += 1
        delivery.last_status_code, delivery.last_latency_ms, delivery.last_error = code, latency, problem
        delivery.updated_at, delivery.next_attempt_at = now, None
        if code is not None and 200 <= code < 300:
            delivery.status = "succeeded"
        elif code == 410:
            delivery.status = "failed"
            endpoint.status, endpoint.disabled_reason, endpoint.updated_at = "disabled", "410 Gone", now
        elif delivery.round_attempts >= self.max_attempts:
            delivery.status = "dead"
        else:
            delivery.next_attempt_at = now
