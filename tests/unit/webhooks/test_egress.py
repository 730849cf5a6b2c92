"""Webhook egress: which URLs and addresses a delivery may go to, literal and resolved, IPv4 and IPv6."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping

import pytest

from lambdas.webhooks.egress import (
    EgressPolicy,
    EgressRefused,
    Resolver,
    Target,
    address_problem,
    check_url,
    system_resolver,
    validate_url_shape,
)
from lambdas.webhooks.transport import PinnedTransport

STRICT = EgressPolicy()
INSECURE = EgressPolicy(allow_insecure=True)
PUBLIC_V4, PUBLIC_V6 = "93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


def resolver(answers: Mapping[str, list[str]]) -> Resolver:
    """A DNS that knows `answers` and nothing else (socket.gaierror, as getaddrinfo raises)."""

    def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(answers[host])

    return resolve


def public(host: str) -> Resolver:
    return resolver({host: [PUBLIC_V4, PUBLIC_V6]})


def test_a_public_https_url_is_checked_into_its_parts() -> None:
    target = check_url("HTTPS://Hooks.Example.com/in/vodpipe?token=abc", STRICT, public("hooks.example.com"))
    assert target == Target(
        url="HTTPS://Hooks.Example.com/in/vodpipe?token=abc",
        scheme="https",
        host="hooks.example.com",
        port=443,
        request_path="/in/vodpipe?token=abc",
        addresses=(PUBLIC_V4, PUBLIC_V6),
    )
    assert target.host_header == "hooks.example.com"


@pytest.mark.parametrize(
    ("url", "path", "port", "host_header"),
    [
        ("https://example.com", "/", 443, "example.com"),
        ("https://example.com?a=1&b=2", "/?a=1&b=2", 443, "example.com"),
        ("https://example.com:8443/x/%20y", "/x/%20y", 8443, "example.com:8443"),
        ("https://example.com.:443/", "/", 443, "example.com"),
        ("https://under_score.example.com/", "/", 443, "under_score.example.com"),
    ],
)
def test_paths_ports_and_host_headers(url: str, path: str, port: int, host_header: str) -> None:
    resolve = resolver({"example.com": [PUBLIC_V4], "under_score.example.com": [PUBLIC_V4]})
    target = check_url(url, STRICT, resolve)
    assert (target.request_path, target.port, target.host_header) == (path, port, host_header)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/hook", "https only: http://example.com/hook (set webhook_allow_insecure_targets"),
        ("ftp://example.com/", "not an http(s) URL"),
        ("example.com/hook", "not an http(s) URL"),
        ("javascript:alert(1)", "not an http(s) URL"),
        ("https:///path", "URL has no host"),
        ("https://user:pw@example.com/", "user info"),
        ("https://example.com@evil.example/", "user info"),
        ("https://evil.example\\@example.com/", "backslashes"),
        ("https://example.com/a b", "spaces"),
        ("https://example.com/\n", "spaces"),
        ("https://exämple.com/", "non-ASCII"),
        ("https://example.com/#frag", "fragment"),
        ("https://example.com:0/", "port 0"),
        ("https://example.com:65536/", "port is not a number"),
        ("https://example.com:http/", "port is not a number"),
        ("https://-bad-.example.com/", "not a valid host name"),
        ("https://a..example.com/", "not a valid host name"),
        ("https://" + "a" * 64 + ".com/", "not a valid host name"),
        ("https://example.com/" + "a" * 2048, "longer than 2048"),
        # What inet_aton reads as 127.0.0.1 (and getaddrinfo would connect to): never a host name.
        ("https://2130706433/", "not a valid host name or IPv4 address"),
        ("https://0x7f000001/", "not a valid host name or IPv4 address"),
        ("https://0177.0.0.1/", "not a valid host name or IPv4 address"),
        ("https://127.1/", "not a valid host name or IPv4 address"),
        ("https://127.000.000.001/", "not a valid host name or IPv4 address"),
        ("https://0x7f.0.0.1/", "not a valid host name or IPv4 address"),
        ("https://[::1/", "not a valid URL"),
        ("https://[not-v6]/", "not a valid URL"),
        ("https://[fe80::1%25eth0]/", "scoped IPv6"),
    ],
)
def test_malformed_or_insecure_urls_are_refused_before_dns(url: str, reason: str) -> None:
    def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError(f"resolved {host}")

    with pytest.raises(EgressRefused, match=re.escape(reason)):
        check_url(url, STRICT, no_dns)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.255.0.9", "a loopback address"),
        ("10.0.0.5", "a private address"),
        ("172.16.0.1", "a private address"),
        ("172.31.255.254", "a private address"),
        ("192.168.1.1", "a private address"),
        ("169.254.169.254", "a link-local address"),  # the EC2/Lambda metadata service
        ("169.254.170.2", "a link-local address"),  # the ECS credentials endpoint
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("100.127.255.254", "a shared (carrier-grade NAT) address"),
        ("0.0.0.0", "the unspecified address"),
        ("0.1.2.3", "a private address"),
        ("192.0.0.8", "a private address"),
        ("192.0.2.1", "a private address"),  # documentation
        ("198.18.0.1", "a private address"),  # benchmarking
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("255.255.255.255", "a reserved address"),
        ("::1", "a loopback address"),
        ("::", "the unspecified address"),
        ("fe80::1", "a link-local address"),
        ("fc00::1", "a private address"),
        ("fd00:ec2::254", "a private address"),  # the EC2 IPv6 metadata service
        ("ff02::1", "a multicast address"),
        ("2001:db8::1", "a private address"),
        ("::7f00:1", "a reserved address"),  # IPv4-compatible (deprecated)
        ("::ffff:127.0.0.1", "a loopback address 127.0.0.1 as IPv6"),
        ("::ffff:10.0.0.5", "a private address 10.0.0.5 as IPv6"),
        ("::ffff:169.254.169.254", "a link-local address"),
        ("64:ff9b::a9fe:a9fe", "a link-local address 169.254.169.254 as IPv6"),  # NAT64 of the metadata service
        ("64:ff9b::7f00:1", "a loopback address 127.0.0.1 as IPv6"),
        ("64:ff9b:1::a00:1", "a reserved address"),  # local-use NAT64
        ("2002:7f00:1::", "a loopback address 127.0.0.1 as IPv6"),  # 6to4
        ("2001::1", "a private address"),  # Teredo
    ],
)
def test_addresses_that_are_not_public(address: str, problem: str) -> None:
    found = address_problem(ipaddress.ip_address(address))
    assert found is not None
    assert found.startswith(problem)


@pytest.mark.parametrize(
    "address",
    [PUBLIC_V4, "8.8.8.8", "1.1.1.1", PUBLIC_V6, "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        (["127.0.0.1"], "host hooks.example.com resolves to a loopback address 127.0.0.1"),
        (["10.0.0.5"], "host hooks.example.com resolves to a private address 10.0.0.5"),
        (["169.254.169.254"], "resolves to a link-local address 169.254.169.254"),
        (["fd00:ec2::254"], "resolves to a private address fd00:ec2::254"),
        (["::ffff:127.0.0.1"], "resolves to a loopback address 127.0.0.1 as IPv6 ::ffff:127.0.0.1"),
        ([PUBLIC_V4, "10.0.0.5"], "a private address 10.0.0.5"),  # one bad answer is enough
        ([PUBLIC_V6, "fe80::1"], "a link-local address"),
        ([], "cannot resolve host hooks.example.com: no addresses"),
        (["not-an-address"], "not an address: not-an-address"),
    ],
)
def test_a_name_is_refused_when_any_of_its_addresses_is_not_public(answers: list[str], reason: str) -> None:
    with pytest.raises(EgressRefused, match=re.escape(reason)):
        check_url("https://hooks.example.com/x", STRICT, resolver({"hooks.example.com": answers}))


def test_an_unknown_host_is_refused_with_the_resolvers_words() -> None:
    with pytest.raises(
        EgressRefused, match=re.escape("cannot resolve host nowhere.example: Name or service not known")
    ):
        check_url("https://nowhere.example/", STRICT, resolver({}))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/", "URL points to a loopback address 127.0.0.1"),
        ("https://10.0.0.5:8443/", "URL points to a private address 10.0.0.5"),
        ("https://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("https://[::1]/", "a loopback address ::1"),
        ("https://[::ffff:127.0.0.1]/", "a loopback address 127.0.0.1 as IPv6"),
        ("https://[::ffff:7f00:1]/", "a loopback address 127.0.0.1 as IPv6"),
        ("https://[fd00:ec2::254]/", "a private address fd00:ec2::254"),
        ("https://[64:ff9b::a9fe:a9fe]/", "a link-local address 169.254.169.254 as IPv6"),
    ],
)
def test_literal_addresses_are_judged_without_dns(url: str, reason: str) -> None:
    with pytest.raises(EgressRefused, match=re.escape(reason)):
        validate_url_shape(url, STRICT)


def test_a_public_literal_address_needs_no_dns() -> None:
    target = check_url(f"https://[{PUBLIC_V6.upper()}]:8443/h", STRICT, resolver({}))
    assert target.addresses == (PUBLIC_V6,)
    assert target.host_header == f"[{PUBLIC_V6}]:8443"
    assert check_url("https://8.8.8.8/", STRICT, resolver({})).addresses == ("8.8.8.8",)


def test_shape_checks_leave_names_unresolved() -> None:
    target = validate_url_shape("https://hooks.example.com/x", STRICT)
    assert (target.host, target.addresses) == ("hooks.example.com", ())


def test_insecure_targets_allow_http_and_any_address_but_not_malformed_urls() -> None:
    target = check_url("http://localhost:8080/hook", INSECURE, resolver({"localhost": ["::1", "127.0.0.1"]}))
    assert (target.scheme, target.port, target.addresses) == ("http", 8080, ("::1", "127.0.0.1"))
    assert target.host_header == "localhost:8080"
    assert check_url("http://10.0.0.5/", INSECURE, resolver({})).addresses == ("10.0.0.5",)
    assert check_url("http://[::1]:80/", INSECURE, resolver({})).host_header == "[::1]"
    for url in ("ftp://localhost/", "http://user@localhost/", "http://2130706433/"):
        with pytest.raises(EgressRefused):
            check_url(url, INSECURE, resolver({"localhost": ["127.0.0.1"]}))
    with pytest.raises(EgressRefused, match="cannot resolve"):
        check_url("http://nowhere.example/", INSECURE, resolver({}))


def test_the_system_resolver_returns_each_address_once() -> None:
    addresses = system_resolver("localhost", 80)
    assert addresses
    assert len(addresses) == len(set(addresses))
    assert all(ipaddress.ip_address(address).is_loopback for address in addresses)
    assert system_resolver("127.0.0.1", 80) == ["127.0.0.1"]


def test_a_name_rebound_to_a_private_address_after_registration_is_refused_at_delivery() -> None:
    answers = iter([[PUBLIC_V4], ["127.0.0.1"]])

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    url = "https://rebind.example/hook"
    assert check_url(url, STRICT, rebinding).addresses == (PUBLIC_V4,)  # registration
    response = PinnedTransport(STRICT, resolve=rebinding).post(url, b"{}", {}, 1)  # delivery
    assert response.status is None
    assert response.error == (
        "egress refused: host rebind.example resolves to a loopback address 127.0.0.1"
        " (set webhook_allow_insecure_targets for local receivers)"
    )
