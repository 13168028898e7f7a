"""Analysis providers against a local HTTP server (127.0.0.1) and an in-memory cluster."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kprism.analysis import PROVIDERS, check_metrics, provider_for
from kprism.analysis import base as analysis_base
from kprism.analysis.base import MeasureContext
from kprism.analysis.job import JOB, job_name, job_outcome
from kprism.analysis.web import JsonPathError, json_path, parse_json_path
from kprism.errors import ConflictError, InvalidSpecError, NotFoundError
from kprism.model.analysis import Measurement, MeasurementPhase, Metric

T0 = datetime(2026, 1, 1, tzinfo=UTC)
S = MeasurementPhase.SUCCESSFUL
F = MeasurementPhase.FAILED
I = MeasurementPhase.INCONCLUSIVE  # noqa: E741
E = MeasurementPhase.ERROR
R = MeasurementPhase.RUNNING

Handler = Callable[[str, str, Mapping[str, str], bytes], tuple[int, str]]


class Server:
    """A tiny HTTP server on 127.0.0.1; ``handler(method, path, headers, body)``."""

    def __init__(self) -> None:
        self.handler: Handler = lambda m, p, h, b: (200, "{}")
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append((self.command, self.path, headers, body))
                code, text = outer.handler(self.command, self.path, headers, body)
                data = text.encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that timed out on purpose closed the connection

        self.httpd = Quiet(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


class Cluster:
    """Just what the providers ask of the adapter: pods by label, Jobs by name."""

    def __init__(self) -> None:
        self.pods: list[dict[str, Any]] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_list: Exception | None = None

    def list_objects(
        self, kind: str, namespace: str | None, labels: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        self.calls.append(("list", kind))
        if self.fail_list is not None:
            raise self.fail_list
        assert kind == "Pod"
        want = dict(labels or {})
        return [
            p
            for p in self.pods
            if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in want.items())
        ]

    def find_object(self, res: Any, name: str, namespace: str) -> dict[str, Any] | None:
        assert res == JOB
        self.calls.append(("get", name))
        return self.jobs.get(name)

    def create_object(self, res: Any, body: Mapping[str, Any]) -> None:
        name = body["metadata"]["name"]
        self.calls.append(("create", name))
        if name in self.jobs:
            raise ConflictError(f"conflict: Job {name} exists")
        self.jobs[name] = dict(body)

    def patch_object(self, res: Any, name: str, namespace: str, patch: Mapping[str, Any]) -> None:
        self.calls.append(("patch", name))
        if name not in self.jobs:
            raise NotFoundError(f"no Job {name}")
        self.jobs[name]["spec"].update(patch["spec"])

    def delete_object(self, res: Any, name: str, namespace: str) -> None:
        self.calls.append(("delete", name))
        self.jobs.pop(name, None)


def metric(provider: dict[str, Any], **kw: Any) -> Metric:
    return Metric.model_validate({"name": "m", "provider": provider, **kw})


def ctx(
    m: Metric,
    *,
    kube: Any = None,
    pending: Measurement | None = None,
    now: datetime = T0,
    measured: int = 0,
) -> MeasureContext:
    return MeasureContext(
        kube=kube or Cluster(),
        namespace="shop",
        app="web",
        release="r1",
        track="green",
        stable="blue",
        service="web",
        track_label="color",
        app_selector={"app": "web"},
        run="step-2",
        metric=m,
        now=now,
        measured=measured,
        pending=pending,
    )


def measure(m: Metric, **kw: Any) -> Measurement:
    c = ctx(m, **kw)
    return provider_for(m.provider_name).measure(c)


def test_every_provider_is_registered_by_its_name() -> None:
    assert sorted(PROVIDERS) == ["http", "job", "pods", "prometheus", "webhook"]
    for name, provider in PROVIDERS.items():
        assert provider.name == name
    with pytest.raises(InvalidSpecError, match="unknown analysis provider 'datadog': use one of"):
        provider_for("datadog")


# -- prometheus ------------------------------------------------------------------------------


def prom(server: Server, body: Any, code: int = 200) -> None:
    server.handler = lambda m, p, h, b: (
        code,
        json.dumps(body) if not isinstance(body, str) else body,
    )


def vector(*values: str) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"pod": f"p{i}"}, "value": [1700000000.0, v]}
                for i, v in enumerate(values)
            ],
        },
    }


def prom_metric(server: Server, **kw: Any) -> Metric:
    return metric(
        {"prometheus": {"address": server.url, "query": 'sum(rate(x{track="green"}[1m]))'}},
        successCondition="result[0] < 0.05",
        **kw,
    )


@pytest.mark.parametrize(
    ("body", "phase", "fragment"),
    [
        (vector("0.01"), S, "1 series: `result[0] < 0.05` for [0.01]"),
        (vector("0.31"), F, "`result[0] < 0.05` is false for [0.31]"),
        (vector(), I, "the query returned no series"),
        (vector("NaN"), I, "the query gave NaN for {pod='p0'}=nan"),
        (vector("0.01", "NaN"), I, "NaN"),
        ({"status": "success", "data": {"resultType": "scalar", "result": [1, "0.02"]}}, E, ""),
        ({"status": "success", "data": {"resultType": "scalar", "result": [1, "NaN"]}}, I, "NaN"),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, E, "matrix"),
    ],
)
def test_prometheus_results(
    server: Server, body: Any, phase: MeasurementPhase, fragment: str
) -> None:
    prom(server, body)
    m = measure(prom_metric(server))
    assert m.phase is phase, m.message
    assert fragment in m.message


def test_prometheus_scalar_results_meet_the_condition_as_a_number(server: Server) -> None:
    prom(server, {"status": "success", "data": {"resultType": "scalar", "result": [1, "0.02"]}})
    m = measure(
        metric(
            {"prometheus": {"address": server.url, "query": "scalar(x)"}},
            successCondition="result < 0.05",
        )
    )
    assert m.phase is S
    assert m.value == "0.02"


def test_prometheus_sends_the_query_and_headers(server: Server) -> None:
    prom(server, vector("0"))
    m = metric(
        {
            "prometheus": {
                "address": server.url + "/",
                "query": "up == 1",
                "headers": {"Authorization": "Bearer t"},
            }
        }
    )
    assert measure(m).phase is S
    method, path, headers, body = server.requests[-1]
    assert (method, path) == ("POST", "/api/v1/query")
    assert headers["authorization"] == "Bearer t"
    assert body == b"query=up+%3D%3D+1"


def test_prometheus_error_text_is_surfaced(server: Server) -> None:
    prom(
        server,
        {
            "status": "error",
            "errorType": "bad_data",
            "error": 'invalid parameter "query": 1:5: parse error: unexpected "}"',
        },
        400,
    )
    m = measure(prom_metric(server))
    assert m.phase is E
    assert m.message == (
        "Prometheus refused the query (HTTP 400, bad_data): "
        'invalid parameter "query": 1:5: parse error: unexpected "}"'
    )


def test_prometheus_without_json(server: Server) -> None:
    prom(server, "<html>proxy error</html>", 502)
    m = measure(prom_metric(server))
    assert m.phase is E
    assert "answered HTTP 502 without JSON" in m.message


def test_prometheus_unreachable_is_an_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        m = measure(metric({"prometheus": {"address": f"http://127.0.0.1:{port}", "query": "up"}}))
    assert m.phase is E
    assert f"cannot reach Prometheus at http://127.0.0.1:{port}" in m.message


def test_prometheus_address_from_the_environment(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    prom(server, vector("0"))
    m = metric({"prometheus": {"query": "up"}})
    with pytest.raises(InvalidSpecError, match=r"address: required \(or set \$PROMETHEUS_URL\)"):
        check_metrics([("steps[1]", m)])
    assert measure(m).phase is E
    monkeypatch.setenv("PROMETHEUS_URL", server.url)
    check_metrics([("steps[1]", m)])
    assert measure(m).phase is S


def test_prometheus_timeout(server: Server) -> None:
    answered = threading.Event()  # set once the measurement has given up: then answer late

    def slow(*a: Any) -> tuple[int, str]:
        answered.wait(10)
        return 200, json.dumps(vector("0"))

    server.handler = slow
    m = metric({"prometheus": {"address": server.url, "query": "up", "timeout": 1}})
    got = measure(m)
    answered.set()
    assert got.phase is E
    assert "did not answer within 1s" in got.message


# -- http / webhook ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "response", "cond", "phase", "fragment"),
    [
        ({}, (200, "ok"), "", S, "HTTP 200: no condition"),
        ({}, (503, "down"), "", F, "HTTP 503 (expected 2xx): 'down'"),
        ({"expectedCodes": [204]}, (200, ""), "", F, "expected 204"),
        ({"expectedCodes": [503]}, (503, ""), "", S, ""),
        ({"jsonPath": "$.checks[0].ok"}, (200, '{"checks": [{"ok": true}]}'), "result", S, ""),
        ({"jsonPath": "$.checks[0].ok"}, (200, '{"checks": [{"ok": false}]}'), "result", F, ""),
        ({"jsonPath": "$.checks[1]"}, (200, '{"checks": []}'), "result", F, "no item [1]"),
        ({"jsonPath": "$.a"}, (200, "not json"), "result", E, "not JSON"),
        ({"jsonPath": "$['rate']"}, (200, '{"rate": 0.2}'), "result < 0.1", F, "[0.2]"[1:4]),
        ({"regex": r"errors=(\d+)"}, (200, "x errors=3 y"), "int(result) < 5", S, ""),
        ({"regex": r"errors=(\d+)"}, (200, "x errors=9 y"), "int(result) < 5", F, ""),
        ({"regex": "ready"}, (200, "not yet"), "", F, "does not match 'ready'"),
        ({}, (200, '{"status": "ok"}'), 'result["status"] == "ok"', S, ""),
        ({}, (200, "plain"), 'result == "plain"', S, ""),
    ],
)
def test_http(
    server: Server,
    settings: dict[str, Any],
    response: tuple[int, str],
    cond: str,
    phase: MeasurementPhase,
    fragment: str,
) -> None:
    server.handler = lambda m, p, h, b: response
    m = metric({"http": {"url": server.url + "/health", **settings}}, successCondition=cond)
    got = measure(m)
    assert got.phase is phase, got.message
    assert fragment in got.message


@pytest.mark.parametrize("provider", ["http", "prometheus"])
def test_an_unreadable_trust_store_is_an_error_measurement_not_a_crash(
    server: Server, provider: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI once saw the system CA bundle fail to load ("PEM lib") under a plain-HTTP check."""
    bad = tmp_path / "ca.crt"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(bad))
    analysis_base._tls_context.cache_clear()
    try:
        config: dict[str, Any] = (
            {"http": {"url": server.url + "/health"}}
            if provider == "http"
            else {"prometheus": {"address": server.url, "query": "up"}}
        )
        got = measure(metric(config))
        assert got.phase is E, got.message
        assert "TLS set-up failed" in got.message
        monkeypatch.delenv("SSL_CERT_FILE")
        server.handler = lambda m, p, h, b: (200, "ok")
        if provider == "http":  # the failure was not cached: the next measurement works
            assert measure(metric(config)).phase is S
    finally:
        analysis_base._tls_context.cache_clear()


def test_http_post_with_headers_and_body(server: Server) -> None:
    m = metric(
        {
            "http": {
                "url": server.url + "/check",
                "method": "POST",
                "headers": {"X-Token": "abc"},
                "body": '{"deep": true}',
            }
        }
    )
    assert measure(m).phase is S
    method, path, headers, body = server.requests[-1]
    assert (method, path, headers["x-token"], body) == ("POST", "/check", "abc", b'{"deep": true}')
    assert headers["content-type"] == "application/json"


def test_http_timeout_is_an_error(server: Server) -> None:
    answered = threading.Event()  # set once the measurement has given up: then answer late

    def hang(*a: Any) -> tuple[int, str]:
        answered.wait(10)
        return 200, ""

    server.handler = hang
    got = measure(metric({"http": {"url": server.url, "timeout": 1}}))
    answered.set()
    assert got.phase is E
    assert "no answer within 1s" in got.message


def test_webhook_receives_the_release_context(server: Server) -> None:
    server.handler = lambda m, p, h, b: (200, '{"approved": true}')
    m = metric(
        {"webhook": {"url": server.url + "/hook", "args": {"rps": "50"}}},
        successCondition='result["approved"]',
    )
    got = measure(m, measured=2)
    assert got.phase is S
    method, path, _headers, body = server.requests[-1]
    assert (method, path) == ("POST", "/hook")
    assert json.loads(body) == {
        "app": "web",
        "namespace": "shop",
        "release": "r1",
        "track": "green",
        "stable": "blue",
        "service": "web",
        "run": "step-2",
        "metric": "m",
        "measurement": 3,
        "args": {"rps": "50"},
    }


def test_webhook_refusal(server: Server) -> None:
    server.handler = lambda m, p, h, b: (403, "no")
    assert measure(metric({"webhook": {"url": server.url}})).phase is F


@pytest.mark.parametrize(
    ("provider", "fragment"),
    [
        ({"http": {}}, "steps[2].provider.http.url: Field required"),
        ({"http": {"url": "ftp://x"}}, "is not an http:// or https:// URL"),
        ({"http": {"url": "http://x", "method": "PUT"}}, "method: Input should be 'GET' or 'POST'"),
        ({"http": {"url": "http://x", "jsonPath": "a.b"}}, "must start with $"),
        ({"http": {"url": "http://x", "jsonPath": "$.a", "regex": "b"}}, "not both"),
        ({"http": {"url": "http://x", "regex": "("}}, "is not a regular expression"),
        ({"http": {"url": "http://x", "body": "{}"}}, "a body needs method: POST"),
        ({"http": {"url": "http://x", "bogus": 1}}, "bogus: Extra inputs are not permitted"),
        ({"webhook": {"url": "http://x", "args": [1]}}, "args: must be a mapping"),
        ({"prometheus": {"address": "x", "query": "up"}}, "is not an http:// or https:// URL"),
        ({"prometheus": {"address": "http://x"}}, "query: Field required"),
        ({"pods": {"maxRestarts": -1}}, "greater than or equal to 0"),
        ({"http": {"url": "http://x", "timeout": "30s"}}, "30s is longer than 10s"),
        (
            {"prometheus": {"address": "http://x", "query": "q", "timeout": 11}},
            "run a longer check as a job",
        ),
        ({"job": {"spec": {}}}, "needs template.spec.containers"),
        ({"job": {"kind": "Pod", "spec": {}}}, "kind: Value error, is 'Pod'"),
        ({"job": {"apiVersion": "v1", "spec": {}}}, "a Job is batch/v1"),
        (
            {"job": {"spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}}},
            "containers[0] needs an image",
        ),
        (
            {
                "job": {
                    "spec": {
                        "template": {
                            "spec": {"restartPolicy": "Always", "containers": [{"image": "i"}]}
                        }
                    }
                }
            },
            "restartPolicy must be Never or OnFailure",
        ),
        ({"datadog": {}}, "steps[2]: unknown analysis provider 'datadog'"),
    ],
)
def test_settings_are_checked_before_a_release(provider: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidSpecError) as info:
        check_metrics([("steps[2]", metric(provider))])
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("doc", "path", "want"),
    [
        ({"a": {"b": 1}}, "$.a.b", 1),
        ({"a": [1, 2, 3]}, "$.a[-1]", 3),
        ({"a b": 2}, "$['a b']", 2),
        ({"a": 2}, '$["a"]', 2),
        ([{"x": 1}, {"x": 2}], "$[*].x", [1, 2]),
        ({"a": {"p": 1, "q": 2}}, "$.a.*", [1, 2]),
        ({"a": 1}, "$", {"a": 1}),
    ],
)
def test_json_path(doc: Any, path: str, want: Any) -> None:
    assert json_path(doc, path) == want


@pytest.mark.parametrize(
    ("doc", "path", "fragment"),
    [
        ({"a": 1}, "$.b", "no key 'b'"),
        ({"a": 1}, "$.a[0]", "no item [0]"),
        ({"a": 1}, "$.a[*]", "[*] of a int"),
        ({}, "a", "must start with $"),
        ({}, "$.a..b", "cannot read"),
    ],
)
def test_json_path_errors(doc: Any, path: str, fragment: str) -> None:
    with pytest.raises(JsonPathError, match=None) as info:
        json_path(doc, path)
    assert fragment in str(info.value)
    assert parse_json_path("$.a[0]['b'][*]") == ["a", 0, "b", None]


# -- pods -------------------------------------------------------------------------------------


def pod(
    name: str,
    *,
    track: str = "green",
    ready: bool = True,
    since: datetime = T0,
    restarts: int = 0,
    waiting: str = "",
    evicted: bool = False,
    deleting: bool = False,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "lastTransitionTime": since.isoformat().replace("+00:00", "Z"),
            }
        ],
        "containerStatuses": [
            {
                "name": "app",
                "restartCount": restarts,
                "state": {"waiting": {"reason": waiting, "message": "back-off 40s"}}
                if waiting
                else {"running": {}},
            }
        ],
    }
    if evicted:
        status = {"phase": "Failed", "reason": "Evicted", "message": "low on memory"}
    meta: dict[str, Any] = {"name": name, "labels": {"app": "web", "color": track}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": status}


@pytest.mark.parametrize(
    ("pods", "phase", "fragment"),
    [
        ([], S, "0/0 green pods ready"),
        ([pod("a"), pod("b"), pod("x", track="blue", waiting="CrashLoopBackOff")], S, "2/2"),
        ([pod("a", waiting="CrashLoopBackOff")], F, "a: container app is in CrashLoopBackOff"),
        ([pod("a", waiting="ImagePullBackOff")], F, "ImagePullBackOff"),
        ([pod("a", restarts=2), pod("b", restarts=2)], F, "4 container restarts (maxRestarts 3)"),
        ([pod("a", restarts=3)], S, "3 restarts"),
        ([pod("a", evicted=True)], F, "a was evicted: low on memory"),
        ([pod("a", ready=False, since=T0 - timedelta(seconds=601))], F, "a not ready for 601s"),
        ([pod("a", ready=False, since=T0 - timedelta(seconds=30))], S, "0/1 green pods ready"),
        ([pod("a"), pod("b", deleting=True, ready=False)], S, "1/1"),
    ],
)
def test_pods(pods: list[dict[str, Any]], phase: MeasurementPhase, fragment: str) -> None:
    kube = Cluster()
    kube.pods = pods
    got = measure(metric({"pods": {}}), kube=kube)
    assert got.phase is phase, got.message
    assert fragment in got.message


def test_pods_limits_are_settings() -> None:
    kube = Cluster()
    kube.pods = [pod("a", restarts=1), pod("b", ready=False, since=T0 - timedelta(seconds=61))]
    got = measure(metric({"pods": {"maxRestarts": 0, "readyDeadline": "1m"}}), kube=kube)
    assert got.phase is F
    assert got.message == "b not ready for 61s; 1 container restarts (maxRestarts 0)"
    assert got.value == '{"pods":2,"ready":1,"restarts":1}'


def test_pods_cluster_error_is_an_error() -> None:
    kube = Cluster()
    kube.fail_list = NotFoundError("cannot list Pods in namespace shop: forbidden")
    got = measure(metric({"pods": {}}), kube=kube)
    assert got.phase is E
    assert "cannot list the green pods" in got.message


# -- job --------------------------------------------------------------------------------------

JOB_SPEC = {
    "metadata": {"labels": {"team": "web"}},
    "spec": {"template": {"spec": {"containers": [{"name": "smoke", "image": "smoke:1"}]}}},
}


def test_job_lifecycle() -> None:
    kube = Cluster()
    m = metric({"job": JOB_SPEC})
    first = measure(m, kube=kube)
    assert first.phase is R
    name = first.state["job"]
    assert name == job_name(ctx(m))
    body = kube.jobs[name]
    assert body["kind"] == "Job"
    assert body["metadata"]["namespace"] == "shop"
    assert body["metadata"]["labels"] == {
        "team": "web",
        "app.kubernetes.io/managed-by": "kprism",
        "kprism.dev/app": "web",
        "kprism.dev/release": "r1",
    }
    spec = body["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["ttlSecondsAfterFinished"] == 600
    pod_spec = spec["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Never"
    env = {e["name"]: e["value"] for e in pod_spec["containers"][0]["env"]}
    assert env["KPRISM_RELEASE"] == "r1"
    assert env["KPRISM_TRACK"] == "green"
    assert JOB_SPEC["spec"]["template"]["spec"]["containers"][0].get("env") is None  # type: ignore[index]
    # still running
    again = measure(m, kube=kube, pending=first)
    assert again.phase is R
    assert "running (0 active, 0 failed pods)" in again.message
    kube.jobs[name]["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    done = measure(m, kube=kube, pending=again)
    assert done.phase is S
    assert done.message == f"Job {name} completed"


def test_job_failure_and_crash_recovery() -> None:
    kube = Cluster()
    m = metric({"job": JOB_SPEC})
    name = job_name(ctx(m))
    kube.jobs[name] = {
        "metadata": {"name": name},
        "spec": {},
        "status": {
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                }
            ]
        },
    }
    # the engine crashed after creating the Job, before recording it: found by its name
    got = measure(m, kube=kube)
    assert got.phase is F
    assert "failed: BackoffLimitExceeded: Job has reached" in got.message
    assert ("create", name) not in kube.calls


def test_job_names_are_per_measurement_and_bounded() -> None:
    m = metric({"job": JOB_SPEC})
    assert job_name(ctx(m, measured=0)) != job_name(ctx(m, measured=1))
    long = Metric.model_validate({"name": "a" * 60, "provider": {"job": JOB_SPEC}})
    name = job_name(ctx(long))
    assert len(name) <= 63
    assert name[0].isalnum() and name[-1].isalnum()


def test_job_gone_while_pending_is_an_error_and_stop_deletes_it() -> None:
    kube = Cluster()
    m = metric({"job": JOB_SPEC})
    first = measure(m, kube=kube)
    name = first.state["job"]
    provider_for("job").stop(ctx(m, kube=kube, pending=first))
    assert kube.calls[-2:] == [("patch", name), ("delete", name)]
    assert name not in kube.jobs
    gone = measure(m, kube=kube, pending=first)
    assert gone.phase is E
    assert "is gone before it finished" in gone.message
    provider_for("job").stop(ctx(m, kube=kube, pending=first))  # idempotent


def test_job_outcome() -> None:
    assert job_outcome({})[0] is R
    assert job_outcome({"status": {"conditions": [{"type": "Complete", "status": "False"}]}})[
        0
    ] is (R)
