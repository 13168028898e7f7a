"""Analysis gates on real metrics: a real Prometheus (Debian's) scrapes the sample app's
pods on the process node through Kubernetes service discovery, inside the data plane's
namespace on 127.0.0.1; canaries run under load through kube-proxy.

A candidate whose pods answer 30% of requests with 500 fails its Prometheus gate and is
rolled back by itself (exit code 1, traffic back on stable, the load generator sees the
failures stop); a healthy candidate passes the same gate and is released. A blue-green
release whose new version fails its post-promotion check is flipped back to the old
track, still up during the scale-down delay.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client

from testkit import scenarios as sc
from testkit.load import summarize
from testkit.prometheus import Prometheus, available, wait_scraped

APP = "py-hello-service"
RATE = 40  # req/s
INTERVAL = 4  # seconds between two measurements of the gate
#: the gate's interval where the test measures how soon the failures stop: one interval
#: must hold the abort (stable back to full size, the switch, kube-proxy's sync: p99 ≈ 4 s)
GATE_INTERVAL = 8
QUERY = (
    '(sum(rate(http_requests_total{namespace="{{namespace}}",color="{{track}}",code=~"5.."}[10s]))'
    " or vector(0))"
    ' / sum(rate(http_requests_total{namespace="{{namespace}}",color="{{track}}"}[10s]))'
)


@pytest.fixture(scope="module")
def prometheus(dp_kube: Client) -> Iterator[Prometheus]:
    if available() is None:
        pytest.fail("prometheus is not installed: `apt-get install prometheus` (.ci/run does)")
    with Prometheus(os.environ["KPRISM_DATAPLANE_KUBECONFIG"]) as prom:
        yield prom


def release_file(prom: Prometheus, interval: int = INTERVAL) -> str:
    spec = {
        "maxSurge": 1,
        "analysisTemplates": [
            {
                "name": "error-rate",
                "args": [{"name": "max", "value": "0.05"}],
                "metrics": [
                    {
                        "name": "error-rate",
                        "initialDelay": "8s",  # the candidate's rate window fills first
                        "interval": f"{interval}s",
                        "count": 3,
                        "successCondition": "result[0] <= {{args.max}}",
                        "provider": {"prometheus": {"address": prom.url, "query": QUERY}},
                    }
                ],
            }
        ],
        "steps": [
            {"setWeight": 50},
            {"analysis": {"templates": [{"templateName": "error-rate"}]}},
            {"setWeight": 100},
        ],
    }
    path = Path(tempfile.mkdtemp(prefix="kprism-analysis-")) / "release.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return str(path)


def seed(ns: str, prom: Prometheus) -> str:
    sc.apply(ns, sc.with_replicas(sc.recommended_seed(), 2))
    sc.rollout(ns, "py-hello-blue")
    sc.kprism(ns, "adopt", APP)
    prom.wait_scraped(ns, 2)
    return sc.cluster_url(ns, APP)


def release_status(ns: str) -> dict[str, Any]:
    svc = json.loads(sc.kubectl(ns, "get", "service", APP, "-o", "json"))
    status: dict[str, Any] = json.loads(svc["metadata"]["annotations"]["kprism.dev/release"])
    return status


def selector(ns: str) -> dict[str, str]:
    svc = json.loads(sc.kubectl(ns, "get", "service", APP, "-o", "json"))
    return dict(svc["spec"]["selector"])


def run_of(status: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in status["analysis"] if r["name"] == name)


def canary(ns: str, prom: Prometheus, *extra: str, interval: int = INTERVAL) -> dict[str, Any]:
    started = time.time()
    r = sc.kprism(
        ns,
        "release",
        APP,
        "-f",
        release_file(prom, interval),
        "--image",
        "hello=localhost:5001/py-http:2",
        "--scale-down-delay",
        "2",
        *extra,
        check=False,
        timeout=240,
    )
    return {"rc": r.returncode, "stderr": r.stderr, "started": started, "done": time.time()}


def test_a_failing_candidate_is_rolled_back_at_its_prometheus_gate(
    dp_kube: Client, dp_namespace: str, prometheus: Prometheus
) -> None:
    ns = dp_namespace
    url = seed(ns, prometheus)
    hits, _, out = sc.under_load(
        dp_kube,
        ns,
        APP,
        url,
        rate=RATE,
        keepalive=False,
        action=lambda: canary(
            ns, prometheus, "--set-env", "hello:ERROR_RATE=0.2", interval=GATE_INTERVAL
        ),
        tail=GATE_INTERVAL + 3,  # the load goes on past the one interval allowed to drain
    )
    assert out["rc"] == 1, out["stderr"]
    assert "analysis failed: error-rate" in out["stderr"]
    status = release_status(ns)
    assert status["phase"] == "Failed"
    assert "step 2/3 (50% on green): analysis failed: error-rate" in status["last_error"]
    run = run_of(status, "step-2")
    assert run["phase"] == "Failed"
    errors = next(r for r in run["results"] if r["name"] == "error-rate")
    assert errors["failed"] == 1
    failed = next(m for m in errors["measurements"] if m["phase"] == "Failed")
    assert float(json.loads(failed["value"])[0]) > 0.1  # the real error rate, ≈ 0.2
    assert selector(ns) == {"app": "hello", "color": "blue"}
    # the load generator saw the candidate fail, then the failures stop within one
    # interval of the failing measurement: traffic is back on stable
    s = summarize(hits)
    assert s.failed > 0, s.as_dict()
    gate_failed = datetime.fromisoformat(failed["finished_at"].replace("Z", "+00:00")).timestamp()
    last_failure = max(h.t for h in hits if h.failed)
    assert last_failure - gate_failed <= GATE_INTERVAL, (last_failure, gate_failed)
    after = [h for h in hits if h.t > gate_failed + GATE_INTERVAL]
    assert len(after) > RATE, len(after)  # the load went on long enough to show it


def test_a_healthy_candidate_passes_the_same_gate(
    dp_kube: Client, dp_namespace: str, prometheus: Prometheus
) -> None:
    ns = dp_namespace
    url = seed(ns, prometheus)
    hits, _, out = sc.under_load(
        dp_kube,
        ns,
        APP,
        url,
        rate=RATE,
        keepalive=False,
        action=lambda: canary(ns, prometheus),
        tail=1,
    )
    assert out["rc"] == 0, out["stderr"]
    status = release_status(ns)
    assert status["phase"] == "Succeeded"
    run = run_of(status, "step-2")
    assert run["phase"] == "Successful"
    errors = next(r for r in run["results"] if r["name"] == "error-rate")
    assert errors["successful"] == 3
    assert all(json.loads(m["value"]) == [0.0] for m in errors["measurements"])
    assert selector(ns) == {"app": "hello", "color": "green"}
    s = summarize(hits)
    assert s.failed == 0, s.as_dict()
    assert s.versions.get("2", 0) > 0


def test_a_sigkill_during_analysis_resumes_without_losing_measurements(
    dp_kube: Client, dp_namespace: str, prometheus: Prometheus
) -> None:
    ns = dp_namespace
    url = seed(ns, prometheus)

    def measured() -> list[dict[str, Any]]:
        try:
            status = release_status(ns)
        except (KeyError, RuntimeError):
            return []
        runs = [r for r in status.get("analysis", []) if r["name"] == "step-2"]
        if not runs:
            return []
        errors = next(r for r in runs[0]["results"] if r["name"] == "error-rate")
        found: list[dict[str, Any]] = errors["measurements"]
        return found

    def crash_then_resume() -> dict[str, Any]:
        proc = subprocess.Popen(
            [
                "kprism",
                "-n",
                ns,
                "release",
                APP,
                "-f",
                release_file(prometheus),
                "--image",
                "hello=localhost:5001/py-http:2",
                "--scale-down-delay",
                "2",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 90
        while len(measured()) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.3)
        before = measured()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        r = sc.kprism(ns, "resume", APP, check=False, timeout=180)
        return {"before": before, "rc": r.returncode, "out": r.stdout + r.stderr}

    hits, _, out = sc.under_load(
        dp_kube, ns, APP, url, rate=RATE, keepalive=False, action=crash_then_resume
    )
    assert len(out["before"]) == 2, out["before"]
    assert out["rc"] == 0, out["out"]
    status = release_status(ns)
    assert status["phase"] == "Succeeded"
    errors = next(r for r in run_of(status, "step-2")["results"] if r["name"] == "error-rate")
    assert errors["count"] == errors["successful"] == 3  # none lost, none taken twice
    kept = [m["finished_at"] for m in errors["measurements"]]
    assert kept[:2] == [m["finished_at"] for m in out["before"]]
    assert summarize(hits).failed == 0


def events(ns: str, reason: str) -> list[dict[str, Any]]:
    out = json.loads(sc.kubectl(ns, "get", "events", "-o", "json"))
    return [e for e in out["items"] if e.get("reason") == reason]


def test_a_blue_green_post_promotion_failure_flips_back(
    dp_kube: Client, dp_namespace: str, prometheus: Prometheus
) -> None:
    ns = dp_namespace
    url = seed(ns, prometheus)
    check = 10  # the shorthand measures every 10 s, after 10 s

    def release() -> dict[str, Any]:
        r = sc.kprism(
            ns,
            "release",
            APP,
            "--image",
            "hello=localhost:5001/py-http:2",
            "--set-env",
            "hello:ERROR_RATE=0.3",
            "--auto-promote",
            "--scale-down-delay",
            "120",  # far longer than the check: the flip back happens inside the delay
            "--check-prom",
            QUERY,
            "--max",
            "0.05",
            "--prometheus",
            prometheus.url,
            check=False,
            timeout=240,
        )
        return {"rc": r.returncode, "stderr": r.stderr, "done": time.time()}

    hits, timeline, out = sc.under_load(
        dp_kube,
        ns,
        APP,
        url,
        rate=RATE,
        keepalive=False,
        action=release,
        tail=check + 3,  # the load goes on past the one interval allowed to drain
    )
    assert out["rc"] == 1, out["stderr"]
    assert "post-promotion analysis of green: analysis failed: prom" in out["stderr"]
    assert out["done"] - hits[0].t < 120, "the flip back waited for the scale-down delay"
    status = release_status(ns)
    assert status["phase"] == "Failed"
    assert "post-promotion analysis of green: analysis failed: prom" in status["last_error"]
    assert status["switched_at"], "traffic never switched: nothing was checked after promotion"
    run = run_of(status, "post-promotion")
    assert run["phase"] == "Failed"
    prom = next(r for r in run["results"] if r["name"] == "prom")
    failed = next(m for m in prom["measurements"] if m["phase"] == "Failed")
    assert float(json.loads(failed["value"])[0]) > 0.1  # the real error rate, ≈ 0.3
    assert selector(ns) == {"app": "hello", "color": "blue"}
    warned = [e for e in events(ns, "ReleaseFailed") if e["type"] == "Warning"]
    assert any("post-promotion analysis of green: analysis failed" in e["message"] for e in warned)
    # green served alone after the switch, then blue alone again: flipped back, not scaled up
    switched = timeline.first_time(lambda c: set(c) == {"py-hello-green"})
    assert switched is not None
    back = timeline.first_time(lambda c: set(c) == {"py-hello-blue"}, after=switched)
    assert back is not None
    gate_failed = datetime.fromisoformat(failed["finished_at"].replace("Z", "+00:00")).timestamp()
    assert back - gate_failed < check, (back, gate_failed)  # stable was still up: no wait
    # the load generator saw green fail after the switch, and the failures stop within
    # one interval of the flip back
    s = summarize(hits)
    assert s.failed > 0, s.as_dict()
    assert all(h.t > switched for h in hits if h.failed), "blue failed before the switch"
    last_failure = max(h.t for h in hits if h.failed)
    assert last_failure - back <= check, (last_failure, back)
    after = [h for h in hits if h.t > back + check]
    assert len(after) > RATE, len(after)
    assert not any(h.failed for h in after), [h for h in after if h.failed][:3]


# -- the job provider: a smoke-test Job of the sample app's image on the process node --------

# 20 requests over ≈ 6 s: the step is verified in the EndpointSlices, but kube-proxy
# programs the new pod a few seconds later (p99 ≈ 4 s on a loaded machine); a smoke test
# that fires all at once may reach only the pods it already knew
SMOKE = """
import os, sys, time, urllib.error, urllib.request
bad = 0
for _ in range(20):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=2).read()
    except (urllib.error.URLError, OSError) as exc:
        bad += 1
        print("failed:", exc)
    time.sleep(0.3)
print(bad, "of 20 requests failed; release", os.environ["KPRISM_RELEASE"], "track", os.environ["KPRISM_TRACK"])
sys.exit(1 if bad else 0)
"""


def job_release_file(url: str) -> str:
    spec = {
        "maxSurge": 1,
        "analysisTemplates": [
            {
                "name": "smoke",
                "args": [{"name": "url"}],
                "metrics": [
                    {
                        "name": "smoke",
                        "initialDelay": "3s",  # as a user would: let kube-proxy catch up
                        "provider": {
                            "job": {
                                "spec": {
                                    "backoffLimit": 0,
                                    "template": {
                                        "spec": {
                                            "containers": [
                                                {
                                                    "name": "smoke",
                                                    "image": "localhost:5001/py-http:2",
                                                    "command": ["python3", "-c", SMOKE],
                                                    "args": ["{{args.url}}"],
                                                }
                                            ]
                                        }
                                    },
                                }
                            }
                        },
                    }
                ],
            }
        ],
        "steps": [
            {"setWeight": 50},
            {
                "analysis": {
                    "templates": [{"templateName": "smoke"}],
                    "args": [{"name": "url", "value": url}],
                }
            },
            {"setWeight": 100},
        ],
    }
    path = Path(tempfile.mkdtemp(prefix="kprism-job-")) / "release.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return str(path)


def job_pods(ns: str) -> list[dict[str, Any]]:
    out = json.loads(sc.kubectl(ns, "get", "pods", "-l", "job-name", "-o", "json"))
    return list(out["items"])


def smoke_gate(ns: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    sc.apply(ns, sc.with_replicas(sc.recommended_seed(), 2))
    sc.rollout(ns, "py-hello-blue")
    sc.kprism(ns, "adopt", APP)
    url = sc.cluster_url(ns, APP, "/")
    r = sc.kprism(
        ns,
        "release",
        APP,
        "-f",
        job_release_file(url),
        "--image",
        "hello=localhost:5001/py-http:2",
        "--scale-down-delay",
        "2",
        *extra,
        check=False,
        timeout=240,
    )
    run = run_of(release_status(ns), "step-2")
    return r, next(x for x in run["results"] if x["name"] == "smoke")


def test_a_smoke_test_job_really_runs_on_the_process_node_and_passes(dp_namespace: str) -> None:
    ns = dp_namespace
    r, smoke = smoke_gate(ns)
    assert r.returncode == 0, r.stderr
    assert release_status(ns)["phase"] == "Succeeded"
    assert smoke["phase"] == "Successful" and smoke["successful"] == 1, smoke
    assert "completed" in smoke["measurements"][0]["message"]
    job = json.loads(sc.kubectl(ns, "get", "jobs", "-o", "json"))["items"][0]
    assert any(
        c["type"] == "Complete" and c["status"] == "True" for c in job["status"]["conditions"]
    )
    (pod,) = job_pods(ns)
    assert pod["spec"]["nodeName"] == "kprism-proc-0"  # a real process, not a KWOK pretence
    assert pod["status"]["phase"] == "Succeeded"
    (cs,) = pod["status"]["containerStatuses"]
    assert cs["state"]["terminated"]["exitCode"] == 0 and cs["restartCount"] == 0
    assert selector(ns) == {"app": "hello", "color": "green"}


def test_a_failing_smoke_test_job_rolls_the_canary_back(dp_namespace: str) -> None:
    ns = dp_namespace
    # every answer of the candidate is a 500: half the smoke test's requests reach it
    r, smoke = smoke_gate(ns, "--set-env", "hello:ERROR_RATE=1")
    assert r.returncode == 1, r.stderr
    assert "analysis failed: smoke" in r.stderr
    assert release_status(ns)["phase"] == "Failed"
    assert smoke["phase"] == "Failed" and smoke["failed"] == 1, smoke
    assert "failed: BackoffLimitExceeded" in smoke["measurements"][0]["message"]
    (pod,) = job_pods(ns)
    assert pod["spec"]["nodeName"] == "kprism-proc-0"
    assert pod["status"]["phase"] == "Failed"
    (cs,) = pod["status"]["containerStatuses"]
    assert cs["state"]["terminated"]["exitCode"] == 1 and cs["restartCount"] == 0
    assert selector(ns) == {"app": "hello", "color": "blue"}


def test_the_outside_check_rolls_back_with_the_data_planes_prometheus(
    dp_kube: Client, dp_namespace: str
) -> None:
    """The issue's outside check, as written: `hack/dataplane.sh exec` sets
    $PROMETHEUS_URL (its own Prometheus, scraping the process node), and the shorthand
    needs no address."""
    prom_url = os.environ.get("PROMETHEUS_URL")
    if not prom_url:
        pytest.fail("no $PROMETHEUS_URL: `hack/dataplane.sh up` starts Prometheus, `exec` sets it")
    ns = dp_namespace
    sc.apply(ns, sc.with_replicas(sc.recommended_seed(), 4))
    sc.rollout(ns, "py-hello-blue")
    sc.kprism(ns, "adopt", APP)
    wait_scraped(prom_url, ns, 4)
    check = 10  # the shorthand measures every 10 s, after 10 s

    def release() -> dict[str, Any]:
        r = sc.kprism(
            ns, "release", APP, "--image", "hello=localhost:5001/py-http:2",
            "--set-env", "hello:ERROR_RATE=0.3", "--steps", "25,50,100",
            "--check-prom", QUERY, "--max", "0.05", check=False, timeout=240,
        )  # fmt: skip
        return {"rc": r.returncode, "stderr": r.stderr, "done": time.time()}

    hits, _, out = sc.under_load(
        dp_kube, ns, APP, sc.cluster_url(ns, APP), rate=RATE, keepalive=False,
        action=release, tail=check + 3,
    )  # fmt: skip
    assert out["rc"] == 1, out["stderr"]
    assert "step 2/5 (25% on green): analysis failed: prom" in out["stderr"]
    status = release_status(ns)
    assert status["phase"] == "Failed"
    prom = next(r for r in run_of(status, "step-2")["results"] if r["name"] == "prom")
    assert prom["phase"] == "Failed"
    assert float(json.loads(prom["measurements"][-1]["value"])[0]) > 0.1  # ≈ 0.3
    assert selector(ns) == {"app": "hello", "color": "blue"}
    s = summarize(hits)
    assert s.failed > 0, s.as_dict()  # the candidate's share failed, then it stopped
    after = [h for h in hits if h.t > out["done"] + check]
    assert len(after) > RATE, len(after)
    assert not any(h.failed for h in after), [h for h in after if h.failed][:3]


# -- the prometheus provider's faults against the real Prometheus -----------------------------


@pytest.mark.parametrize(
    ("query", "phase", "fragment"),
    [
        ("vector(0.01)", "Successful", "`result[0] <= 0.05` for [0.01]"),
        ("vector(0.3)", "Failed", "`result[0] <= 0.05` is false for [0.3]"),
        ('http_requests_total{namespace="nowhere"}', "Inconclusive", "returned no series"),
        ("vector(0) / vector(0)", "Inconclusive", "NaN"),
        (
            'sum(rate(http_requests_total{namespace="x"}[10s]',
            "Error",
            "Prometheus refused the query (HTTP 400, bad_data): ",
        ),
    ],
)
def test_what_the_real_prometheus_answers_becomes_a_measurement(
    prometheus: Prometheus, query: str, phase: str, fragment: str
) -> None:
    m = prom_measure(prometheus.url, query)
    assert (m.phase.value, fragment in m.message) == (phase, True), m.message


def test_an_unreachable_prometheus_is_an_error_measurement() -> None:
    m = prom_measure("http://127.0.0.1:1", "vector(0)")
    assert m.phase.value == "Error"
    assert "cannot reach Prometheus at http://127.0.0.1:1" in m.message


def prom_measure(address: str, query: str) -> Any:
    from datetime import UTC

    from kprism.analysis import provider_for
    from kprism.analysis.base import MeasureContext
    from kprism.model.analysis import Metric

    metric = Metric.model_validate(
        {
            "name": "errors",
            "successCondition": "result[0] <= 0.05",
            "provider": {"prometheus": {"address": address, "query": query, "timeout": "5s"}},
        }
    )
    ctx = MeasureContext(
        kube=None,  # type: ignore[arg-type]  # the prometheus provider asks only Prometheus
        namespace="shop",
        app="web",
        release="r1",
        track="green",
        stable="blue",
        service="web",
        track_label="color",
        app_selector={"app": "web"},
        run="step-2",
        metric=metric,
        now=datetime.now(UTC),
    )
    return provider_for("prometheus").measure(ctx)
