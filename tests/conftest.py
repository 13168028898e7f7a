"""Shared test configuration: the network guard.

Tests and the tools they drive may only ever connect to 127.0.0.0/8 (or ::1). This
guard wraps ``socket.socket.connect``/``connect_ex`` for the whole session and raises
before the real connect for any other IP address, so a bug can never dial a simulated
pod IP (198.18.0.0/15), a private range or a public address.

The one exception is the data plane's tier (``tests/dataplane``): when this process
really runs inside the project's own network namespace (``hack/dataplane.sh exec``,
checked by comparing namespace inodes, not by trusting a variable), its pod and Service
IPs in 198.18.0.0/15 exist only there and may be dialled.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest


class NonLoopbackConnect(AssertionError):
    """A test tried to connect to an address outside 127.0.0.0/8 / ::1."""


DATAPLANE_RANGE = ipaddress.ip_network("198.18.0.0/15")


def _in_dataplane_netns() -> bool:
    from testkit.load import in_dataplane_netns

    return in_dataplane_netns()


IN_DATAPLANE = _in_dataplane_netns()


def check_address(family: int, address: Any) -> None:
    if family not in (socket.AF_INET, socket.AF_INET6):
        return  # AF_UNIX and friends never leave the machine
    host = address[0] if isinstance(address, tuple) else address
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0] if isinstance(host, str) else host)
    except ValueError as exc:  # a hostname reached connect() unresolved: refuse to guess
        raise NonLoopbackConnect(f"refusing to connect to unresolved host {host!r}") from exc
    if ip.is_loopback or (IN_DATAPLANE and ip in DATAPLANE_RANGE):
        return
    if not ip.is_loopback:
        raise NonLoopbackConnect(f"refusing to connect to non-loopback address {ip}")


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self: socket.socket, address: Any) -> None:
    check_address(self.family, address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    check_address(self.family, address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect = _real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The chaos tier restarts the API server: run it after every other test."""
    items.sort(key=lambda item: "/tests/chaos/" in str(item.path))
