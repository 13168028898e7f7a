"""The session-wide socket guard refuses non-loopback destinations.

UDP sockets are used on purpose: connect() on a datagram socket sends no packet, so
even a broken guard cannot make these tests dial anything.
"""

import socket

import pytest

from tests.conftest import NonLoopbackConnect, check_address


@pytest.mark.parametrize(
    "host", ["198.18.0.7", "10.0.0.1", "172.16.5.4", "192.168.1.1", "8.8.8.8", "2001:db8::1"]
)
def test_guard_decision_refuses_every_non_loopback_range(host: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with pytest.raises(NonLoopbackConnect):
        check_address(family, (host, 9))


@pytest.mark.parametrize("host", ["198.18.0.7", "203.0.113.9"])
def test_patched_connect_refuses_before_any_syscall(host: str) -> None:
    # Only never-routed benchmark/documentation ranges reach a real socket here.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(NonLoopbackConnect):
        s.connect((host, 9))


def test_connect_ex_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(NonLoopbackConnect):
        s.connect_ex(("203.0.113.9", 9))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.9.9"])
def test_loopback_allowed(host: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((host, 9))
        assert s.getpeername() == (host, 9)


def test_ipv6_loopback_allowed_and_other_refused() -> None:
    if not socket.has_ipv6:
        pytest.fail("this machine has no IPv6 support; the guard cannot be checked for it")
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s, pytest.raises(NonLoopbackConnect):
        s.connect(("2001:db8::1", 9))
