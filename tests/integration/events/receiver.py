"""A webhook receiver on loopback for the tests and the bench: it answers a script of statuses (then 200), or never
answers, and keeps every request it got with the time it arrived."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass(frozen=True)
class Received:
    at: float  # time.time() when it arrived
    headers: dict[str, str]
    body: str

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


@dataclass
class Receiver:
    port: int = 0
    script: list[int] = field(default_factory=list)  # statuses answered first, in order; then `then`
    then: int = 200
    silent: bool = False  # never answer (the sender times out)
    got: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def answer(self) -> int | None:
        with self.lock:
            if self.silent:
                return None
            return self.script.pop(0) if self.script else self.then

    def record(self, received: Received) -> None:
        with self.arrived:
            self.got.append(received)
            self.arrived.notify_all()

    def wait_for(self, done: Callable[[list[Received]], bool], seconds: float = 60) -> list[Received]:
        deadline = time.monotonic() + seconds
        with self.arrived:
            while not done(self.got):
                left = deadline - time.monotonic()
                assert left > 0, (
                    f"the receiver got {len(self.got)} requests: {[r.json().get('type') for r in self.got]}"
                )
                self.arrived.wait(min(left, 0.5))
            return list(self.got)

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every request's payload, each checked by the standardwebhooks verifier (raises on a bad signature)."""
        with self.lock:
            return [Webhook(secret).verify(r.body, r.headers) for r in self.got]


@contextmanager
def receiving(given: Receiver | None = None) -> Iterator[Receiver]:
    receiver = given or Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length).decode()
            receiver.record(Received(time.time(), {k.lower(): v for k, v in self.headers.items()}, body))
            status = receiver.answer()
            if status is None:
                time.sleep(60)  # past any webhook timeout
                return
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
