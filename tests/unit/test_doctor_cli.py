"""``kprism doctor``: output formats, exit codes, --fix, and one-line errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from kprism.cli.doctor import register
from kprism.cli.doctor_report import Located, render_sarif, render_text
from kprism.plan.doctor import RULES, DoctorConfig, audit

FIXTURES = Path(__file__).parent / "fixtures" / "doctor"
runner = CliRunner()

# The command on a bare root app: building the full kprism CLI for every call is slow, and
# test_module_entry_point_registers_doctor checks the real wiring.
app = typer.Typer(add_completion=False)
app.callback()(lambda: None)
register(app)


def doctor(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["doctor", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    path = tmp_path / "seed.yaml"
    shutil.copy(FIXTURES / "seed.yaml", path)
    return path


def test_text_report_and_default_exit_code(seed: Path) -> None:
    code, out, err = doctor("-f", str(seed))
    assert code == 0  # only warnings and info: below the default --fail-on error
    assert err == ""
    lines = out.splitlines()
    findings = [ln for ln in lines if re.match(rf"{re.escape(str(seed))}:\d+: KP\d{{3}} ", ln)]
    assert [ln.split()[1:3] for ln in findings] == [
        ["KP001", "warning"],
        ["KP004", "info"],
        ["KP014", "warning"],
        ["KP001", "warning"],
        ["KP004", "info"],
        ["KP014", "warning"],
        ["KP013", "warning"],
    ]
    assert findings[0].startswith(f'{seed}:20: KP001 warning container "hello"')
    hints = [ln for ln in lines if ln.startswith("    fix: ")]
    assert len(hints) == len(findings)
    assert "(kprism doctor --fix)" in hints[2]
    assert lines[-1] == "5 warnings, 2 info in 3 objects (6 fixable with --fix)"


@pytest.mark.parametrize(
    ("fail_on", "code"), [("error", 0), ("warning", 1), ("info", 1), ("none", 0)]
)
def test_fail_on(seed: Path, fail_on: str, code: int) -> None:
    assert doctor("-f", str(seed), "--fail-on", fail_on)[0] == code


def test_fail_on_info_counts_info_findings(seed: Path) -> None:
    assert doctor("-f", str(seed), "--select", "KP004", "--fail-on", "warning")[0] == 0
    assert doctor("-f", str(seed), "--select", "KP004", "--fail-on", "info")[0] == 1


def test_error_finding_fails_by_default(tmp_path: Path) -> None:
    # the green Deployment becomes another app that happens to carry "app: hello" too
    text = (FIXTURES / "seed.yaml").read_text()
    green = "      labels:\n        app: hello\n        color: green\n"
    assert text.count(green) == 1
    text = text.replace(
        green, green.replace("labels:\n", "labels:\n        app.kubernetes.io/name: other\n")
    )
    path = tmp_path / "two-apps.yaml"
    path.write_text(text)
    code, out, _ = doctor("-f", str(path))
    assert code == 1
    assert re.search(
        r"two-apps\.yaml:\d+: KP012 error selector \{app=hello\} "
        r"matches pods of 2 apps \(hello, other\)",
        out,
    )


def test_json_output(seed: Path) -> None:
    code, out, _ = doctor("-f", str(seed), "-o", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["summary"] == {"objects": 3, "error": 0, "warning": 5, "info": 2}
    first = doc["findings"][0]
    assert first == {
        "rule_id": "KP001",
        "slug": "no-readiness-probe",
        "severity": "warning",
        "object": {"kind": "Deployment", "namespace": "default", "name": "py-hello-blue"},
        "container": "hello",
        "message": first["message"],
        "fix": "add readinessProbe: tcpSocket on port 8888 (or httpGet on a health path)",
        "path": "/spec/template/spec/containers/0/readinessProbe",
        "fixable": True,
        "file": str(seed),
        "line": 20,
    }
    assert doc["fixed"] == []


def test_sarif_output(seed: Path) -> None:
    code, out, _ = doctor("-f", str(seed), "-o", "sarif")
    assert code == 0
    log = json.loads(out)
    assert log["version"] == "2.1.0"
    assert "sarif" in log["$schema"]
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.id for r in RULES]
    assert all(r["name"] and r["shortDescription"]["text"] for r in rules)
    results = run["results"]
    assert len(results) == 7
    for res in results:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
        assert res["message"]["text"]
        phys = res["locations"][0]["physicalLocation"]
        assert phys["artifactLocation"]["uri"].startswith("file://")
        assert phys["artifactLocation"]["uri"].endswith("/seed.yaml")
        assert phys["region"]["startLine"] >= 1
    assert [r["level"] for r in results if r["ruleId"] == "KP004"] == ["note", "note"]


def test_sarif_relative_uri(seed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(seed.parent)
    log = json.loads(doctor("-f", "seed.yaml", "-o", "sarif")[1])
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"][
        "uri"
    ]
    assert uri == "seed.yaml"


def test_fix_rewrites_then_reports_what_remains(seed: Path) -> None:
    comment = '        # command: ["/usr/bin/tini", "--", "bash", "-c"]\n'
    code, out, err = doctor("-f", str(seed), "--fix", "--fail-on", "warning")
    assert code == 1  # KP013 cannot be fixed automatically
    assert sorted(set(re.findall(r"KP\d{3}", out))) == ["KP013"]
    assert f"fixed {seed}:20: KP001 no-readiness-probe" in err
    assert f"fixed {seed}:37: KP014 shell-without-exec" in err
    assert f"fixed {seed}:32: KP004 prestop-exec-sleep" in err
    assert f"wrote {seed}" in err
    text = seed.read_text()
    assert text.count(comment) == 2
    assert text.count("exec python app.py") == 2
    # a second run has nothing left to fix and does not write
    code, out, err = doctor("-f", str(seed), "--fix")
    assert code == 0
    assert "wrote" not in err
    assert "fixable" not in out.splitlines()[-1]


def test_fix_json_lists_fixed_findings(seed: Path) -> None:
    doc = json.loads(doctor("-f", str(seed), "--fix", "-o", "json")[1])
    assert sorted(f["rule_id"] for f in doc["fixed"]) == [
        "KP001",
        "KP001",
        "KP004",
        "KP004",
        "KP014",
        "KP014",
    ]
    assert all(not f["fixable"] for f in doc["findings"])


def test_select_and_ignore(seed: Path) -> None:
    out = doctor("-f", str(seed), "--select", "KP014,no-readiness-probe")[1]
    assert sorted(set(re.findall(r": (KP\d{3}) ", out))) == ["KP001", "KP014"]
    out = doctor("-f", str(seed), "--ignore", "KP001", "--ignore", "prestop-exec-sleep")[1]
    assert sorted(set(re.findall(r": (KP\d{3}) ", out))) == ["KP013", "KP014"]


def test_propagation_seconds(seed: Path) -> None:
    assert "KP003" not in doctor("-f", str(seed))[1]
    out = doctor("-f", str(seed), "--propagation-seconds", "8")[1]
    assert "KP003 warning" in out
    assert "less than the 8s" in out


def test_drain_seconds(seed: Path) -> None:
    assert "KP005" not in doctor("-f", str(seed))[1]
    assert "KP005 warning" in doctor("-f", str(seed), "--drain-seconds", "25")[1]


def test_stdin() -> None:
    code, out, _ = doctor("-f", "-", stdin=(FIXTURES / "seed.yaml").read_text())
    assert code == 0
    assert out.startswith("<stdin>:20: KP001 warning")


def test_clean_input() -> None:
    code, out, _ = doctor("-f", str(FIXTURES / "good.yaml"), "--fail-on", "info")
    assert code == 0
    assert out == "no problems found in 5 objects\n"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["-f", "does-not-exist.yaml"], None, "does-not-exist.yaml: no such file or directory"),
        (["-f", "-"], "kind: [x\n", "<stdin>:2: invalid YAML"),
        (["-f", "-", "--fix"], "kind: x\n", "cannot rewrite stdin"),
        (["-f", "-", "--select", "KP999"], "kind: x\n", "unknown doctor rule 'KP999'"),
        ([], None, "name an APP, pass -A for every app in the cluster, or check manifests"),
        (["my-app", "-f", "x.yaml"], None, "check manifests (-f) or the cluster (APP or -A)"),
        (["-A", "-f", "x.yaml"], None, "not both"),
        (["my-app", "-A"], None, "name one APP or pass -A for every app, not both"),
        (["my-app", "--dry-run"], None, "--dry-run goes with APP --fix"),
        (["-f", "-", "--fix", "--dry-run"], "kind: x\n", "--dry-run goes with APP --fix"),
        (["-A", "--fix"], None, "--fix patches one app at a time"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], stdin: str | None, message: str) -> None:
    code, out, err = doctor(*args, stdin=stdin)
    assert code == 2
    assert out == ""
    assert err.startswith("kprism: error: ")
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_bad_choice_is_a_usage_error(seed: Path) -> None:
    code, _, err = doctor("-f", str(seed), "-o", "xml")
    assert code == 2
    assert "xml" in err


def test_module_entry_point_registers_doctor(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: [x}\n")
    out = subprocess.run(
        [sys.executable, "-m", "kprism.cli.main", "doctor", "-f", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2
    assert out.stderr.startswith(f"kprism: error: {bad}:3: invalid YAML")
    assert "Traceback" not in out.stderr


def test_live_objects_render_by_reference() -> None:
    # objects from the API server have no file: text names the object, SARIF a logical location
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}}},
    }
    items = [Located(finding=f) for f in audit([deployment], config=DoctorConfig())]
    text = render_text(items, objects=1)
    assert text.startswith("Deployment prod/web: KP001 warning ")
    result = json.loads(render_sarif(items))["runs"][0]["results"][0]
    assert "physicalLocation" not in result["locations"][0]
    logical = result["locations"][0]["logicalLocations"][0]
    assert logical["fullyQualifiedName"] == (
        "Deployment prod/web/spec/template/spec/containers/0/readinessProbe"
    )


# ------------------------------------------------- -f honours -n and --track-label (issue 9, 13)

_TRACKS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web-{track}}}
spec:
  replicas: 2
  template:
    metadata:
      labels: {{app: web, track: {track}}}
    spec:
      containers:
      - {{name: web, image: "web:{version}", ports: [{{containerPort: 80}}]}}
"""
_WEB_SERVICE = (
    "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}}\n"
)


def test_files_honour_the_track_label(tmp_path: Path) -> None:
    path = tmp_path / "tracks.yaml"
    path.write_text(
        "---\n".join(
            [
                _TRACKS.format(track="blue", version="1"),
                _TRACKS.format(track="green", version="2"),
                _WEB_SERVICE,
            ]
        )
    )
    assert "KP013" not in doctor("-f", str(path))[1]  # tracks told apart by "color": none
    out = doctor("-f", str(path), "--track-label", "track")[1]
    assert re.search(r'KP013 warning selector has no "track" label', out)


def test_files_take_the_namespace_from_n(seed: Path) -> None:
    doc = json.loads(doctor("-f", str(seed), "-n", "shop", "-o", "json")[1])
    assert {f["object"]["namespace"] for f in doc["findings"]} == {"shop"}
    # an object that names its namespace keeps it
    text = seed.read_text().replace(
        "name: py-hello-blue\n", "name: py-hello-blue\n  namespace: a\n", 1
    )
    seed.write_text(text)
    doc = json.loads(doctor("-f", str(seed), "-n", "shop", "-o", "json")[1])
    assert {f["object"]["namespace"] for f in doc["findings"]} == {"a", "shop"}


# ------------------------------------------ unrendered Helm templates (issue 9, item 14)

_HELM = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    {{- include "chart.labels" . | nindent 4 }}
spec:
  template:
    spec:
      containers:
      - name: app
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        command: ["sh", "-c", "{{ .Values.cmd }}"]
"""


@pytest.mark.parametrize(
    "text",
    [
        _HELM,
        # only a control line is templated: the rest would parse
        "{{- if .Values.enabled }}\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n{{- end }}\n",
        # no Helm object at all, but template syntax where YAML is expected
        'apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ template "fullname" . }}\n',
    ],
)
def test_helm_template_is_refused_with_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "templates" / "deployment.yaml"
    path.parent.mkdir()
    path.write_text(text)
    for args in (["-f", str(tmp_path)], ["-f", str(path), "--fix"]):
        code, out, err = doctor(*args)
        assert code == 2
        assert out == ""
        assert err.count("\n") == 1
        assert f"{path}:" in err
        assert "unrendered Helm template" in err
        assert "helm template" in err
        assert "| kprism doctor -f -" in err
    assert path.read_text() == text  # --fix wrote nothing


def test_go_templates_inside_strings_of_rendered_manifests_are_data(tmp_path: Path) -> None:
    # Alertmanager / Prometheus templates in a ConfigMap are data, not an unrendered chart
    path = tmp_path / "cm.yaml"
    path.write_text(
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata: {name: alerts}\n"
        "data:\n"
        "  slack.tmpl: |\n"
        '    {{ define "slack.title" }}{{ .Status }}: {{ .CommonLabels.alertname }}{{ end }}\n'
        "    {{ range .Alerts }}{{ $labels.instance }}{{ end }}\n"
        '  summary: "{{ $value }} errors"\n'
    )
    code, out, _ = doctor("-f", str(path))
    assert code == 0
    assert out == "no problems found in 1 object\n"


# ---------------------------------------------------- SARIF locations (issue 9, item 16)


def _physical(log: dict[str, Any]) -> list[dict[str, Any]]:
    return [r["locations"][0]["physicalLocation"] for r in log["runs"][0]["results"]]


def test_sarif_percent_encodes_uris(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    odd = tmp_path / "my manifests #1" / "50% seed.yaml"
    odd.parent.mkdir()
    shutil.copy(FIXTURES / "seed.yaml", odd)
    absolute = {
        p["artifactLocation"]["uri"]
        for p in _physical(json.loads(doctor("-f", str(odd), "-o", "sarif")[1]))
    }
    assert absolute == {odd.as_uri()}
    assert "%20" in odd.as_uri() and "%23" in odd.as_uri() and "%25" in odd.as_uri()
    monkeypatch.chdir(tmp_path)
    relative = {
        p["artifactLocation"]["uri"]
        for p in _physical(json.loads(doctor("-f", "my manifests #1", "-o", "sarif")[1]))
    }
    assert relative == {"my%20manifests%20%231/50%25%20seed.yaml"}


def test_sarif_findings_from_stdin_carry_a_location() -> None:
    log = json.loads(
        doctor("-f", "-", "-o", "sarif", stdin=(FIXTURES / "seed.yaml").read_text())[1]
    )
    located = _physical(log)
    assert len(located) == len(log["runs"][0]["results"]) == 7
    assert {p["artifactLocation"]["uri"] for p in located} == {"stdin"}
    assert located[0]["region"]["startLine"] == 20


def test_a_dangling_symlink_is_a_warning_not_the_end_of_the_run(seed: Path) -> None:
    (seed.parent / "gone.yaml").symlink_to(seed.parent / "nowhere.yaml")
    code, out, err = doctor("-f", str(seed.parent))
    assert code == 0
    assert (
        err
        == f"kprism: warning: {seed.parent / 'gone.yaml'}: dangling symlink to {seed.parent / 'nowhere.yaml'}, skipped\n"
    )
    assert out.splitlines()[-1] == "5 warnings, 2 info in 3 objects (6 fixable with --fix)"
    doc = json.loads(doctor("-f", str(seed.parent), "-o", "json")[1])
    assert doc["warnings"] == [err.removeprefix("kprism: warning: ").strip()]


def test_files_take_the_global_namespace_too(seed: Path) -> None:
    # `kprism -n shop doctor -f ...`: the namespace given before the command
    from kprism.cli.main import app as root

    result = runner.invoke(root, ["-n", "shop", "doctor", "-f", str(seed), "-o", "json"])
    doc = json.loads(result.stdout)
    assert {f["object"]["namespace"] for f in doc["findings"]} == {"shop"}
    # the command's own -n wins
    result = runner.invoke(
        root, ["-n", "shop", "doctor", "-f", str(seed), "-n", "qa", "-o", "json"]
    )
    assert {f["object"]["namespace"] for f in json.loads(result.stdout)["findings"]} == {"qa"}
