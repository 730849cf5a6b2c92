"""The pinned webhook transport against real receivers on 127.0.0.1: answers, failures, pinning, TLS names."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lambdas.webhooks.egress import EgressPolicy, Resolver
from lambdas.webhooks.transport import PinnedTransport, Response

INSECURE = EgressPolicy(allow_insecure=True)
HEADERS = {"content-type": "application/json", "webhook-id": "msg_1"}
BODY = b'{"type":"job.completed"}'


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes
    client: str


@dataclass
class Receiver:
    """A local HTTP(S) server answering each path with a (status, headers, body) and recording what it got."""

    answers: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.seen.append(Seen(self.path, headers, body, self.client_address[0]))
                status, extra, content = receiver.answers.get(self.path.split("?")[0], (200, {}, b"ok"))
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # failed TLS handshakes are what some tests are about


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _serve(Receiver(), None)


def _serve(receiver: Receiver, tls: ssl.SSLContext | None) -> Iterator[Receiver]:
    server = QuietServer(("127.0.0.1", 0), receiver.handler())
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def names(mapping: dict[str, list[str]]) -> Resolver:
    def resolve(host: str, port: int) -> list[str]:
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return mapping[host]

    return resolve


LOCAL = names({"localhost": ["127.0.0.1"], "hooks.test": ["127.0.0.1"]})


def post(url: str, *, timeout_s: float = 5, transport: PinnedTransport | None = None) -> Response:
    return (transport or PinnedTransport(INSECURE, resolve=LOCAL)).post(url, BODY, HEADERS, timeout_s)


def test_a_2xx_answer_and_what_the_receiver_got(receiver: Receiver) -> None:
    receiver.answers["/hook"] = (202, {}, b'{"received": true}')
    response = post(f"http://127.0.0.1:{receiver.port}/hook?k=v")
    assert (response.status, response.error, response.body_excerpt) == (202, None, '{"received": true}')
    assert response.succeeded
    assert 0 <= response.latency_ms < 5000
    [seen] = receiver.seen
    assert (seen.path, seen.body) == ("/hook?k=v", BODY)
    assert seen.headers["webhook-id"] == "msg_1"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["host"] == f"127.0.0.1:{receiver.port}"


@pytest.mark.parametrize("status", [500, 410, 404, 429])
def test_error_statuses_are_answers_not_errors(receiver: Receiver, status: int) -> None:
    receiver.answers["/"] = (status, {}, b"nope")
    response = post(f"http://127.0.0.1:{receiver.port}/")
    assert (response.status, response.error, response.body_excerpt) == (status, None, "nope")
    assert not response.succeeded


def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    receiver.answers["/old"] = (302, {"location": f"http://127.0.0.1:{receiver.port}/new"}, b"")
    response = post(f"http://127.0.0.1:{receiver.port}/old")
    assert (response.status, response.succeeded) == (302, False)
    assert [seen.path for seen in receiver.seen] == ["/old"]


def test_the_host_header_names_the_host_while_the_connection_goes_to_the_pinned_address(receiver: Receiver) -> None:
    # hooks.test exists only in the test's resolver: the transport never asked the system for it.
    response = post(f"http://hooks.test:{receiver.port}/in")
    assert response.status == 200
    response = post(f"http://localhost:{receiver.port}/in", transport=PinnedTransport(INSECURE, resolve=LOCAL))
    assert response.status == 200
    assert [(seen.headers["host"], seen.client) for seen in receiver.seen] == [
        (f"hooks.test:{receiver.port}", "127.0.0.1"),
        (f"localhost:{receiver.port}", "127.0.0.1"),
    ]


def test_a_host_header_from_the_caller_is_replaced(receiver: Receiver) -> None:
    transport = PinnedTransport(INSECURE, resolve=LOCAL)
    transport.post(f"http://hooks.test:{receiver.port}/", BODY, {"Host": "evil.example"}, 5)
    assert receiver.seen[0].headers["host"] == f"hooks.test:{receiver.port}"


def test_the_next_address_is_tried_when_one_refuses_the_connection(receiver: Receiver) -> None:
    # The receiver listens on 127.0.0.1 only: 127.0.0.2 (loopback too, on Linux) refuses.
    transport = PinnedTransport(INSECURE, resolve=names({"hooks.test": ["127.0.0.2", "127.0.0.1"]}))
    assert post(f"http://hooks.test:{receiver.port}/", transport=transport).status == 200


def test_the_default_policy_refuses_loopback_without_connecting(receiver: Receiver) -> None:
    strict = PinnedTransport(EgressPolicy(), resolve=LOCAL)
    named = post(f"https://localhost:{receiver.port}/", transport=strict)
    literal = post(f"https://127.0.0.1:{receiver.port}/", transport=strict)
    insecure = post(f"http://hooks.test:{receiver.port}/", transport=strict)
    assert [response.status for response in (named, literal, insecure)] == [None, None, None]
    assert named.error == (
        "egress refused: host localhost resolves to a loopback address 127.0.0.1"
        " (set webhook_allow_insecure_targets for local receivers)"
    )
    assert (literal.error or "").startswith("egress refused: URL points to a loopback address 127.0.0.1")
    assert (insecure.error or "").startswith("egress refused: https only: http://hooks.test")
    assert receiver.seen == []


def test_a_refused_connection_is_an_error_without_status() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    response = post(f"http://127.0.0.1:{port}/")
    assert response.status is None
    assert response.error == f"cannot connect to 127.0.0.1:{port}: Connection refused"


def test_an_unknown_host_is_an_error_without_status() -> None:
    response = post("http://nowhere.test/")
    assert response.status is None
    assert response.error == "egress refused: cannot resolve host nowhere.test: Name or service not known"


def test_a_receiver_that_never_answers_times_out_on_time() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        response = post(f"http://127.0.0.1:{silent.getsockname()[1]}/", timeout_s=1)
        elapsed = time.monotonic() - started
    assert (response.status, response.error) == (None, "timed out after 1 s")
    assert 0.9 <= elapsed < 2
    assert 900 <= response.latency_ms < 2000


def test_a_body_trickled_forever_is_cut_at_the_deadline() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def trickle() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
                for _ in range(40):
                    try:
                        connection.sendall(b"x")
                    except OSError:
                        return
                    time.sleep(0.1)

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        started = time.monotonic()
        response = post(f"http://127.0.0.1:{listener.getsockname()[1]}/", timeout_s=1)
        elapsed = time.monotonic() - started
        thread.join(timeout=5)
    assert response.status == 200
    assert 0 < len(response.body_excerpt) < 20
    assert elapsed < 2


def test_the_excerpt_is_capped(receiver: Receiver) -> None:
    receiver.answers["/"] = (500, {}, b"e" * 5000)
    response = post(f"http://127.0.0.1:{receiver.port}/", transport=PinnedTransport(INSECURE, max_response_bytes=1000))
    assert response.body_excerpt == "e" * 1000


# TLS: a receiver whose certificate names `localhost`, trusted through ca_certs.


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def localhost_certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return Certificate(cert, key)


@pytest.fixture
def tls_receiver(localhost_certificate: Certificate) -> Iterator[Receiver]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(localhost_certificate.cert, localhost_certificate.key)
    yield from _serve(Receiver(), context)


def test_https_goes_to_the_pinned_address_with_the_host_name_for_sni_and_certificate(
    tls_receiver: Receiver, localhost_certificate: Certificate
) -> None:
    transport = PinnedTransport(INSECURE, resolve=LOCAL, ca_certs=str(localhost_certificate.cert))
    response = post(f"https://localhost:{tls_receiver.port}/secure", transport=transport)
    assert (response.status, response.error) == (200, None)
    assert tls_receiver.seen[0].headers["host"] == f"localhost:{tls_receiver.port}"


def test_a_certificate_for_another_name_fails(tls_receiver: Receiver, localhost_certificate: Certificate) -> None:
    transport = PinnedTransport(INSECURE, resolve=LOCAL, ca_certs=str(localhost_certificate.cert))
    response = post(f"https://hooks.test:{tls_receiver.port}/", transport=transport)
    assert response.status is None
    assert response.error is not None
    assert response.error.startswith("TLS failed with hooks.test: ")
    assert "doesn't match 'localhost'" in response.error
    assert tls_receiver.seen == []


def test_an_untrusted_certificate_fails(tls_receiver: Receiver) -> None:
    response = post(f"https://localhost:{tls_receiver.port}/", transport=PinnedTransport(INSECURE, resolve=LOCAL))
    assert response.status is None
    assert "certificate verify failed" in (response.error or "")
    assert tls_receiver.seen == []
