"""One webhook POST, to the address egress checked (pinned against DNS rebinding); network failures as data."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from lambdas.webhooks.egress import EgressPolicy, EgressRefused, Resolver, Target, check_url, system_resolver

# Enough of an answer to show why a receiver failed; the rest is never read.
MAX_RESPONSE_BYTES = 64 * 1024
_CHUNK = 16 * 1024


@dataclass(frozen=True)
class Response:
    """What one attempt got. `status` None: no HTTP answer, and `error` says why; with a status, `error` is None."""

    status: int | None
    latency_ms: int
    error: str | None = None
    body_excerpt: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Transport(Protocol):
    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> Response: ...


def _ca_bundle() -> str | None:
    try:
        import certifi
    except ImportError:  # the system's trust store then
        return None
    return str(certifi.where())


class PinnedTransport:
    """POSTs with urllib3 to an address `check_url` allowed at this moment, never to a name urllib3 resolves itself.

    The host name still goes in `Host`, TLS SNI and the certificate check. No redirects (a 3xx is a failed
    attempt), no retries (the delivery schedule retries), one connection per post. Addresses are tried IPv4 first,
    the next one only when a connection cannot be made, all within `timeout_s`.
    """

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        resolve: Resolver = system_resolver,
        ca_certs: str | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._policy = policy
        self._resolve = resolve
        self._ca_certs = ca_certs or _ca_bundle()
        self._max_response_bytes = max_response_bytes

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> Response:
        started = time.monotonic()
        deadline = started + timeout_s
        try:
            target = check_url(url, self._policy, self._resolve)
        except EgressRefused as refused:
            return Response(None, _ms_since(started), f"egress refused: {refused}")
        sent_headers = {name: value for name, value in headers.items() if name.lower() != "host"}
        sent_headers["Host"] = target.host_header
        error = "no address to connect to"
        for address in _connect_order(target.addresses):
            if time.monotonic() >= deadline:
                error = _timed_out(timeout_s)
                break
            try:
                return self._attempt(target, address, body, sent_headers, started=started, deadline=deadline)
            except NewConnectionError as refused:  # before HTTPError: the next address may take it
                error = f"cannot connect to {_endpoint(address, target.port)}: {_cause(refused)}"
            except HTTPError as failure:
                error = _failure(failure, target, address, timeout_s)
                break
        return Response(None, _ms_since(started), error)

    def _attempt(
        self, target: Target, address: str, body: bytes, headers: dict[str, str], *, started: float, deadline: float
    ) -> Response:
        pool = self._pool(target, address)
        try:
            answer = pool.urlopen(
                "POST",
                target.request_path,
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                timeout=urllib3.Timeout(total=max(deadline - time.monotonic(), 0.001)),
                preload_content=False,
            )
            latency_ms = _ms_since(started)
            try:
                excerpt = self._excerpt(answer, deadline)
            finally:
                answer.close()
            return Response(answer.status, latency_ms, None, excerpt)
        finally:
            pool.close()

    def _pool(self, target: Target, address: str) -> urllib3.HTTPConnectionPool:
        if target.scheme == "http":
            return urllib3.HTTPConnectionPool(address, target.port, maxsize=1, retries=False)
        return urllib3.HTTPSConnectionPool(
            address,
            target.port,
            maxsize=1,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=self._ca_certs,
            assert_hostname=target.host,
            server_hostname=target.host,
        )

    def _excerpt(self, answer: urllib3.BaseHTTPResponse, deadline: float) -> str:
        """Up to `max_response_bytes` of the body, read by the deadline; a body that fails midway is cut there."""
        chunks: list[bytes] = []
        left = self._max_response_bytes
        # read1 returns what one receive brings (urllib3 2); read(amt) waits for amt bytes or the end.
        read = getattr(answer, "read1", answer.read)
        try:
            while left > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                _limit_socket(answer, remaining)
                chunk: bytes = read(min(left, _CHUNK))
                if not chunk:
                    break
                chunks.append(chunk[:left])
                left -= len(chunk)
        except (HTTPError, OSError):
            pass
        return b"".join(chunks).decode("utf-8", errors="replace")


def _connect_order(addresses: tuple[str, ...]) -> list[str]:
    # Lambda outside a dual-stack VPC has no IPv6 route; a stable sort keeps the resolver's order otherwise.
    return sorted(addresses, key=lambda address: ipaddress.ip_address(address).version)


def _limit_socket(answer: urllib3.BaseHTTPResponse, seconds: float) -> None:
    """The read timeout applies per receive; a body trickled byte by byte must still end at the deadline."""
    connection = getattr(answer, "connection", None) or getattr(answer, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(seconds)


def _failure(error: HTTPError, target: Target, address: str, timeout_s: float) -> str:
    """A failure after the connection was made (or while making it, for timeouts), in plain words."""
    if isinstance(error, ConnectTimeoutError | ReadTimeoutError):
        return _timed_out(timeout_s)
    if isinstance(error, SSLError):
        return f"TLS failed with {target.host}: {_cause(error)}"
    if isinstance(error, ProtocolError):
        return f"connection to {_endpoint(address, target.port)} broken: {_cause(error)}"
    return f"HTTP failure: {_cause(error)}"


def _timed_out(timeout_s: float) -> str:
    return f"timed out after {timeout_s:g} s"


def _endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _cause(error: BaseException) -> str:
    """The innermost reason in plain words ("Connection refused"), not urllib3's pool description."""
    seen: BaseException = error
    for _ in range(8):
        inner = next((arg for arg in seen.args if isinstance(arg, BaseException)), None)
        inner = inner or getattr(seen, "reason", None) or seen.__context__
        if not isinstance(inner, BaseException) or inner is seen:
            break
        seen = inner
    if isinstance(seen, OSError) and seen.strerror:
        return str(seen.strerror)
    return str(seen) or type(seen).__name__


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
