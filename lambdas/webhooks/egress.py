"""Where a webhook may be sent: https to public addresses only, checked at registration and again at delivery."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
INSECURE_SETTING = "webhook_allow_insecure_targets"
DEFAULT_PORTS = {"http": 80, "https": 443}

type IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Host names as DNS spells them (IDNs in their xn-- form); underscores occur in real names, so they pass.
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
# A last label that inet_aton would read as a number (2130706433, 0x7f.1, 0177.0.0.1, 127.1): no DNS name
# ends so, and resolvers turn these into addresses nobody wrote, so only canonical dotted quads are addresses.
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")


class EgressRefused(ValueError):
    """A webhook URL we will not send to, and why in words a user can act on."""


@dataclass(frozen=True)
class EgressPolicy:
    # Local deployments: http and any address (loopback receivers, containers on private networks).
    allow_insecure: bool = False


@dataclass(frozen=True)
class Target:
    """A checked URL: what to connect to (`addresses`, every one allowed) and what to ask for."""

    url: str
    scheme: str
    host: str  # lower case; an IPv6 literal without brackets
    port: int
    request_path: str  # path and query, as sent on the request line
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        """`Host` as a client sends it: the port only when it is not the scheme's default."""
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == DEFAULT_PORTS[self.scheme] else f"{name}:{self.port}"


# (host, port) -> the addresses it resolves to; raises OSError when it does not resolve.
Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address of `host` (IPv4 and IPv6), each once, in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def validate_url_shape(url: str, policy: EgressPolicy) -> Target:
    """The checks that need no DNS: scheme, form, host, port; a literal address is judged here too.

    The returned Target has `addresses` only for a literal IP host (empty for a name: `check_url` resolves it).
    """
    if len(url) > MAX_URL_LENGTH:
        raise EgressRefused(f"URL longer than {MAX_URL_LENGTH} characters")
    if not url.isascii() or not url.isprintable() or " " in url or "\\" in url:
        raise EgressRefused("URL has spaces, backslashes or non-ASCII characters (percent-encode them)")
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced IPv6 bracket
        raise EgressRefused(f"not a valid URL: {_clip(url)}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise EgressRefused(f"not an http(s) URL: {_clip(url)}")
    if scheme != "https" and not policy.allow_insecure:
        raise EgressRefused(f"https only: {_clip(url)} (set {INSECURE_SETTING} for local receivers)")
    if parts.fragment or url.endswith("#"):
        raise EgressRefused("URL has a fragment (#...): it is never sent to the server")
    if "@" in parts.netloc:
        raise EgressRefused("URL has user info (user:password@): put credentials in the path or query instead")
    try:
        explicit_port = parts.port
    except ValueError:
        raise EgressRefused(f"port is not a number from 1 to 65535: {_clip(url)}") from None
    if explicit_port == 0:
        raise EgressRefused("port 0 is not allowed")
    port = explicit_port or DEFAULT_PORTS[scheme]
    host, literal = _host(parts.netloc, parts.hostname)
    if literal is not None and not policy.allow_insecure:
        refuse_address(literal)
    path = parts.path or "/"
    request_path = f"{path}?{parts.query}" if parts.query else path
    addresses = (str(literal),) if literal is not None else ()
    return Target(url, scheme, host, port, request_path, addresses)


def check_url(url: str, policy: EgressPolicy, resolve: Resolver = system_resolver) -> Target:
    """`validate_url_shape`, then where the host resolves to: unless insecure targets are allowed, every address
    must be public (one private answer among public ones is how a rebinding name gets through)."""
    target = validate_url_shape(url, policy)
    if target.addresses:
        return target
    try:
        answers = resolve(target.host, target.port)
    except (OSError, UnicodeError) as error:
        raise EgressRefused(f"cannot resolve host {target.host}: {_reason(error)}") from error
    if not answers:
        raise EgressRefused(f"cannot resolve host {target.host}: no addresses")
    addresses: list[str] = []
    for answer in answers:
        try:
            address = ipaddress.ip_address(answer)
        except ValueError:
            raise EgressRefused(f"host {target.host} resolves to something that is not an address: {answer}") from None
        if not policy.allow_insecure:
            refuse_address(address, host=target.host)
        addresses.append(str(address))
    return Target(target.url, target.scheme, target.host, target.port, target.request_path, tuple(addresses))


def address_problem(address: IpAddress) -> str | None:
    """Why `address` is not a public one we send to (e.g. "a loopback address"); None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            problem = address_problem(embedded)
            return None if problem is None else f"{problem} {embedded} as IPv6"
        if address.scope_id:
            return "a scoped IPv6 address"
    return next((problem for applies, problem in _PROBLEMS if applies(address)), None)


# In this order, so the words name the most specific reason (240.0.0.0/4 is "private" to ipaddress too).
_PROBLEMS: tuple[tuple[Callable[[IpAddress], bool], str], ...] = (
    (lambda address: address.is_unspecified, "the unspecified address"),
    (lambda address: address.is_loopback, "a loopback address"),
    (lambda address: address.is_link_local, "a link-local address"),
    (lambda address: address.is_multicast, "a multicast address"),
    (lambda address: address in _SHARED, "a shared (carrier-grade NAT) address"),
    (lambda address: address.is_reserved, "a reserved address"),
    (lambda address: address.is_private, "a private address"),
    (lambda address: not address.is_global, "a special-purpose address"),
)


def refuse_address(address: IpAddress, *, host: str | None = None) -> None:
    problem = address_problem(address)
    if problem is None:
        return
    where = f"host {host} resolves to" if host is not None else "URL points to"
    raise EgressRefused(f"{where} {problem} {address} (set {INSECURE_SETTING} for local receivers)")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d), 6to4."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _host(netloc: str, hostname: str | None) -> tuple[str, IpAddress | None]:
    """The host in lower case without brackets, and the address it is when it is a literal one."""
    if not hostname:
        raise EgressRefused("URL has no host")
    if netloc.startswith("["):
        if "%" in hostname:
            raise EgressRefused(f"scoped IPv6 addresses are not allowed: {hostname}")
        try:
            return hostname, ipaddress.IPv6Address(hostname)
        except ValueError:
            raise EgressRefused(f"not an IPv6 address: [{hostname}]") from None
    name = hostname[:-1] if hostname.endswith(".") else hostname
    try:
        return name, ipaddress.IPv4Address(name)
    except ValueError:
        pass
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise EgressRefused(f"not a valid host name: {_clip(hostname)}")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        raise EgressRefused(f"not a valid host name or IPv4 address: {hostname} (write addresses as 203.0.113.7)")
    return name, None


def _reason(error: BaseException) -> str:
    if isinstance(error, socket.gaierror) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _clip(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
