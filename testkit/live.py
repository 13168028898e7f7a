"""Live traffic for the demo: vegeta at a fixed rate, one line per second.

    python -m testkit.live URL [--rate 50] [--seconds N]

Prints, every second, requests per second, failures (cumulative) and the share of each
version that answered in that second. Runs inside ``hack/dataplane.sh exec``.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter

from testkit.load import decode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url")
    ap.add_argument("--rate", type=int, default=50)
    ap.add_argument(
        "--seconds", type=float, default=0, help="stop after this long (0: until killed)"
    )
    ap.add_argument("--prefix", default="traffic")
    ap.add_argument(
        "--keepalive",
        action="store_true",
        help="reuse connections (kube-proxy then balances connections, not requests)",
    )
    args = ap.parse_args()
    vegeta = shutil.which("vegeta")
    if vegeta is None:
        sys.exit("testkit.live: vegeta is not on PATH (run inside hack/dataplane.sh exec)")
    attack = subprocess.Popen(
        [
            vegeta,
            "attack",
            f"-rate={args.rate}/s",
            "-duration=0",
            "-timeout=5s",
            "-http2=false",
            "-max-body=64",
            f"-keepalive={'true' if args.keepalive else 'false'}",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert attack.stdin is not None
    attack.stdin.write(f"GET {args.url}\n".encode())
    attack.stdin.close()
    encode = subprocess.Popen(
        [vegeta, "encode", "-to", "json"], stdin=attack.stdout, stdout=subprocess.PIPE, text=True
    )
    stop = time.monotonic() + args.seconds if args.seconds else None

    def quit_(signum: int, frame: object) -> None:
        attack.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, quit_)
    signal.signal(signal.SIGINT, quit_)
    assert encode.stdout is not None
    window: Counter[str] = Counter()
    failed = total = 0
    tick = time.monotonic() + 1
    for line in encode.stdout:
        hit = decode(line)
        total += 1
        if hit.failed:
            failed += 1
            window["failed"] += 1
        else:
            window[hit.version] += 1
        now = time.monotonic()
        if now >= tick:
            n = sum(window.values())
            shares = "  ".join(
                f"v{v} {c / n:4.0%}" for v, c in sorted(window.items()) if v != "failed"
            )
            print(
                f"{args.prefix}: {n:4d} req/s  failed {failed} of {total}  {shares}",
                file=sys.stderr,
                flush=True,
            )
            window.clear()
            tick = now + 1
        if stop is not None and now >= stop:
            attack.send_signal(signal.SIGINT)
            stop = None
    print(f"{args.prefix}: done: {total} requests, {failed} failed", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
