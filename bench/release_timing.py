"""Benchmark: wall time of real releases on the local cluster (not a test; no asserts).

    KUBECONFIG=$(hack/cluster.sh kubeconfig) .venv/bin/python bench/release_timing.py [replicas...]

For each size it runs a blue-green release (auto-promote, scale-down delay 0) and a
canary 10,25,50,100 without pauses, and prints the time of each phase from the status
timestamps. Pods become ready about 1 s after creation (KWOK stage), so the numbers show
kprism's own overhead on top of that: observe, decide, record, act, verify.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

KUBECTL = os.path.join(os.path.dirname(__file__), "..", ".cache", "bin", "current", "kubectl")


def sh(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(args, input=stdin, capture_output=True, text=True, check=True).stdout


def app(ns: str, replicas: int) -> None:
    manifest = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: hello-blue}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: hello, color: blue}}}}
  strategy: {{rollingUpdate: {{maxUnavailable: 0}}}}
  template:
    metadata: {{labels: {{app: hello, color: blue}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{{name: hello, image: "registry.example/hello:1", readinessProbe: {{httpGet: {{path: /, port: 8888}}}}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: hello}}
spec: {{selector: {{app: hello, color: blue}}, ports: [{{port: 8888}}]}}
"""
    sh(KUBECTL, "create", "namespace", ns)
    sh(KUBECTL, "-n", ns, "apply", "-f", "-", stdin=manifest)
    sh(KUBECTL, "-n", ns, "rollout", "status", "deploy/hello-blue", "--timeout=120s")


def run(ns: str, *args: str) -> tuple[float, dict[str, object]]:
    kprism = os.path.join(os.path.dirname(sys.executable), "kprism")
    t0 = time.monotonic()
    out = sh(kprism, "-n", ns, "release", "hello", "-o", "json", *args)
    return time.monotonic() - t0, json.loads(out)


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [3, 10, 30]
    print(f"{'replicas':>8} {'strategy':>9} {'total s':>8}")
    for n in sizes:
        ns = f"bench-{uuid.uuid4().hex[:6]}"
        app(ns, n)
        total, _ = run(
            ns, "--image", "registry.example/hello:2", "--auto-promote", "--scale-down-delay", "0"
        )
        print(f"{n:>8} {'bluegreen':>9} {total:8.1f}")
        total, _ = run(ns, "--image", "registry.example/hello:3", "--steps", "10,25,50,100")
        print(f"{n:>8} {'canary':>9} {total:8.1f}")
        sh(KUBECTL, "delete", "namespace", ns, "--wait=false")


if __name__ == "__main__":
    main()
