"""How ``kprism web`` serves: the listening socket from ``bind`` and the uvicorn server from
``make_server``, as ``serve`` runs them, on loopback.

Accepted connections must have Nagle's algorithm off (TCP_NODELAY): with it on, every
response after the first on a keep-alive connection waited ≈40 ms for the browser's
delayed ACK. The tests read the socket option of the connections the server accepted;
they time nothing (the latency itself is measured in ``bench/web_keepalive.py``)."""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from kprism.errors import UsageError
from kprism.web.app import bind, create_app, make_server
from tests.unit.test_web_api import KUBECONFIG


def nodelay(sock: socket.socket | asyncio.trsock.TransportSocket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_the_listening_socket_says_tcp() -> None:
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP  # what asyncio checks before TCP_NODELAY
    finally:
        sock.close()


def test_asyncio_turns_nagle_off_on_sockets_accepted_from_bind() -> None:
    seen: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            seen.append(nodelay(transport.get_extra_info("socket")))
            transport.close()

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Probe, sock=bind("127.0.0.1", 0))
        async with server:
            host, port = server.sockets[0].getsockname()[:2]
            _, writer = await asyncio.open_connection(host, port)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    # a thread of its own: the browser tier's Playwright keeps a loop running in this one
    thread = threading.Thread(target=lambda: asyncio.run(main()))
    thread.start()
    thread.join(30)
    assert seen == [1]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int, uvicorn.Server]]:
    """The dashboard served exactly as ``serve`` does, in a thread (no cluster needed)."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    sock = bind("127.0.0.1", 0)
    host, port = sock.getsockname()[:2]
    server = make_server(create_app(kubeconfig=str(kubeconfig)))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            thread.join(0.01)
        assert server.started, "the server did not start"
        yield host, port, server
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_keep_alive_connections_have_nagle_off(served: tuple[str, int, uvicorn.Server]) -> None:
    host, port, server = served
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        for _ in range(3):  # several requests on one connection, as the page's polls are
            conn.request("GET", "/api/config")
            response = conn.getresponse()
            assert response.status == 200
            response.read()
        connections = list(server.server_state.connections)
        assert len(connections) == 1  # the one kept-alive connection
        assert nodelay(connections[0].transport.get_extra_info("socket")) == 1
    finally:
        conn.close()


@pytest.mark.parametrize("port", [-1, 65536, 99999])
def test_a_port_out_of_range_is_one_line(port: int) -> None:
    with pytest.raises(UsageError, match=f"^cannot listen on 127.0.0.1:{port}: the port must"):
        bind("127.0.0.1", port)
