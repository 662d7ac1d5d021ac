"""Pure parts of the Distribution client and the outbound guard (no network)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest

from integrations.providers import netguard
from integrations.providers.base import ProviderError
from integrations.providers.distribution import (
    backoff_delay,
    parse_challenge,
    parse_retry_after,
    platform_matches,
)

# ---- challenges, Retry-After, backoff ---------------------------------------------------------


def test_it_parses_a_bearer_challenge():
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/alpine:pull",error="insufficient_scope"'
    )
    assert parse_challenge(header) == (
        "bearer",
        {
            "realm": "https://auth.docker.io/token",
            "service": "registry.docker.io",
            "scope": "repository:library/alpine:pull",
            "error": "insufficient_scope",
        },
    )


def test_it_parses_basic_and_unquoted_challenges():
    assert parse_challenge('Basic realm="test"') == ("basic", {"realm": "test"})
    assert parse_challenge("Bearer realm=https://x/token, service=reg") == (
        "bearer",
        {"realm": "https://x/token", "service": "reg"},
    )
    assert parse_challenge("") == ("", {})


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0  # in the past
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


@pytest.mark.parametrize(("attempt", "low", "high"), [(0, 0.25, 0.5), (1, 0.5, 1.0), (3, 2.0, 4.0)])
def test_backoff_doubles_with_jitter_between_half_and_all(attempt, low, high):
    assert backoff_delay(attempt, 0.5, rand=lambda: 0.0) == low
    assert backoff_delay(attempt, 0.5, rand=lambda: 1.0) == high
    assert low <= backoff_delay(attempt, 0.5) <= high


def test_backoff_is_capped_and_retry_after_wins():
    assert backoff_delay(20, 0.5, cap=30.0, rand=lambda: 1.0) == 30.0
    assert backoff_delay(20, 0.5, cap=30.0, rand=lambda: 0.0) == 15.0
    assert backoff_delay(3, 0.5, retry_after=2.0) == 2.0
    assert backoff_delay(0, 0.5, retry_after=-1.0) == 0.0


@pytest.mark.parametrize(
    ("wanted", "have", "expected"),
    [
        ("linux/arm64", "linux/arm64/v8", True),
        ("linux/arm64/v8", "linux/arm64/v8", True),
        ("linux/arm/v7", "linux/arm/v6", False),
        ("linux/arm/v7", "linux/arm", False),
        ("linux/amd64", "windows/amd64", False),
    ],
)
def test_platforms_match_like_docker_pull(wanted, have, expected):
    assert platform_matches(wanted, have) is expected


# ---- outbound guard ---------------------------------------------------------------------------


def resolver(*addresses: str):
    return lambda host, port: [ipaddress.ip_address(a) for a in addresses]


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("169.254.169.254", "a cloud metadata address"),
        ("::ffff:169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("169.254.1.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "the unspecified address"),
        ("::", "the unspecified address"),
        ("240.0.0.1", "a reserved address"),
        ("127.0.0.1", None),
        ("::1", None),
        ("10.1.2.3", None),
        ("172.16.0.1", None),
        ("192.168.1.10", None),
        ("fd12:3456::1", None),
        ("93.184.216.34", None),
    ],
)
def test_blocked_reasons(address, reason):
    assert netguard.blocked_reason(ipaddress.ip_address(address)) == reason


def test_one_blocked_address_among_several_refuses_the_host():
    with pytest.raises(ProviderError, match=r"registry.example.com \(169.254.169.254\)") as exc:
        netguard.check_host(
            "registry.example.com", 443, resolve=resolver("10.0.0.5", "169.254.169.254")
        )
    assert exc.value.permanent


def test_allowed_networks_let_a_blocked_range_through():
    netguard.check_host("lab-registry", 5000, ["169.254.0.0/16"], resolve=resolver("169.254.7.7"))
    with pytest.raises(ProviderError, match="link-local"):
        netguard.check_host(
            "lab-registry", 5000, ["169.254.8.0/24"], resolve=resolver("169.254.7.7")
        )


def test_loopback_and_private_ranges_are_allowed_by_default():
    netguard.check_host("r", 5000, resolve=resolver("127.0.0.1", "10.0.0.1", "192.168.0.2"))


def test_a_bad_allowed_network_is_named():
    with pytest.raises(ProviderError, match="'10.0.0.300/8'"):
        netguard.parse_networks(["10.0.0.0/8", "10.0.0.300/8"])


def test_an_unresolvable_host_is_a_transient_error():
    def fail(host, port):
        raise OSError("Name or service not known")

    with pytest.raises(ProviderError, match="cannot resolve registry host nope.invalid") as exc:
        netguard.check_host("nope.invalid", 443, resolve=fail)
    assert not exc.value.permanent


def test_check_url_uses_the_url_host_and_default_port():
    seen = []

    def record(host, port):
        seen.append((host, port))
        return [ipaddress.ip_address("127.0.0.1")]

    netguard.check_url("https://registry.example.com/v2/", resolve=record)
    netguard.check_url("http://[::1]:5000", resolve=record)
    assert seen == [("registry.example.com", 443), ("::1", 5000)]
