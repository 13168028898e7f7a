"""The data plane's own tooling: sample app, vegeta result decoding, summaries, the node
runtime's pure helpers. The sample app runs for real on 127.0.0.1."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit import noderuntime
from testkit.load import Hit, decode, percentile, summarize

SAMPLE = Path(noderuntime.__file__).with_name("sample_app.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str = "/") -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
    finally:
        conn.close()


def _start(port: int, **env: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, str(SAMPLE)],
        env={**os.environ, "POD_IP": "127.0.0.1", "PORT": str(port), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("sample app did not start")


@pytest.fixture
def app() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = _free_port()
    proc = _start(port, VERSION="7", DRAIN_SECONDS="0.3")
    yield port, proc
    proc.kill()
    proc.wait()


def test_sample_app_answers_with_its_version_and_counts(
    app: tuple[int, subprocess.Popen[bytes]],
) -> None:
    port, _ = app
    code, headers, body = _get(port)
    assert (code, headers["x-version"], body) == (200, "7", "7\n")
    assert _get(port, "/healthz")[0] == 200
    metrics = _get(port, "/metrics")[2]
    assert 'http_requests_total{code="200",version="7"} 1' in metrics
    assert "http_request_duration_seconds_count 1" in metrics


def test_sample_app_graceful_shutdown_drains_with_connection_close(
    app: tuple[int, subprocess.Popen[bytes]],
) -> None:
    port, proc = app
    proc.send_signal(signal.SIGTERM)
    code, headers, _ = _get(port)  # still serving while it drains
    assert code == 200
    assert headers.get("connection") == "close"
    assert proc.wait(5) == 0


def test_sample_app_abrupt_shutdown_and_error_rate() -> None:
    port = _free_port()
    proc = _start(port, SHUTDOWN="abrupt", ERROR_RATE="1")
    try:
        assert _get(port)[0] == 500
        proc.send_signal(signal.SIGTERM)
        proc.wait(5)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), 0.5).close()
    finally:
        proc.kill()


@pytest.mark.parametrize("bad", ["nan", "-1", "inf", "x"])
def test_sample_app_refuses_bad_knobs(bad: str) -> None:
    r = subprocess.run(
        [sys.executable, str(SAMPLE)],
        env={**os.environ, "POD_IP": "127.0.0.1", "PORT": "1", "LATENCY_MS": bad},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert r.returncode != 0
    assert "LATENCY_MS" in r.stderr


def test_decode_vegeta_results() -> None:
    line = json.dumps(
        {
            "code": 200,
            "timestamp": "2026-11-29T21:00:00.250000000Z",
            "latency": 1500000,
            "error": "",
            "body": base64.b64encode(b"2\n").decode(),
            "headers": {"X-Version": ["2"]},
        }
    )
    hit = decode(line)
    assert hit.version == "2"
    assert hit.latency == pytest.approx(0.0015)
    assert hit.t % 1 == pytest.approx(0.25)
    assert not hit.failed
    err = decode(
        json.dumps(
            {
                "code": 0,
                "timestamp": "2026-11-29T21:00:00Z",
                "latency": 0,
                "error": "dial tcp: connection refused",
            }
        )
    )
    assert err.failed


def test_summarize_counts_failures_old_answers_and_shares() -> None:
    hits = [
        Hit(t=float(i), code=200, error="", version="1" if i < 6 else "2", latency=0.01)
        for i in range(10)
    ]
    hits.append(Hit(t=3.5, code=502, error="", version="", latency=0.01))
    s = summarize(hits, old="1", cutover=4.0, windows=[(6.0, 10.0, "2", 1.0), (0.0, 4.0, "2", 0.0)])
    assert s.requests == 11
    assert s.failed == 1
    assert s.errors == {"HTTP 502": 1}
    assert s.old_after_cutover == 1  # t=5 answered by v1 after the cutover at 4.0
    assert [w["achieved"] for w in s.shares] == [1.0, 0.0]
    assert percentile([3, 1, 2], 50) == 2


def test_runtime_expands_variables_and_knows_sample_images() -> None:
    env = {"PORT": "8080", "A": "x"}
    assert (
        noderuntime.expand("--port=$(PORT) $(MISSING) $$(A)", env) == "--port=8080 $(MISSING) $(A)"
    )
    assert noderuntime.image_version("kprism.dev/sample-app:3") == "3"
    assert noderuntime.image_version("localhost:5001/py-http:2") == "2"
    assert noderuntime.image_version("kprism.dev/sample-app") == "latest"
    assert noderuntime.image_version("nginx:1.27") is None


def test_runtime_ip_pool_does_not_hand_out_a_freed_ip_at_once() -> None:
    pool = noderuntime.IPPool()
    a = pool.take()
    pool.release(a)
    b = pool.take()
    assert a != b
    assert b.startswith("198.18.")
