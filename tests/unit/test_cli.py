"""The CLI shell without a cluster (typer's CliRunner over the in-memory adapter): the
global options before and after the command, one-line errors with their exit codes and
nothing written, help with metavars and examples, promote's output, status --watch."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from kprism import ops
from kprism.cli import app as cli_app
from kprism.cli import inspect as cli_inspect
from kprism.cli import tracks as cli_tracks
from kprism.cli.app import Output
from kprism.cli.main import ORDER, app
from kprism.errors import UsageError
from kprism.kube.state import read_intent, status_patch
from kprism.model.observed import AppObs, DeploymentObs, PodObs, ServiceObs
from kprism.model.release import Action, Change, Phase, ReleaseSpec, Strategy
from kprism.ops.apps import track_views
from tests.unit.bgsim import blue_app, new_release
from tests.unit.fakekube import NS, SERVICE, FakeKube, fake

runner = CliRunner()
V2 = ReleaseSpec(change=Change(images={"hello": "hello:2"}), scale_down_delay=0)


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> FakeKube:
    """``ops.connect`` answers the fake cluster; ``kube.targets`` records what was asked."""
    k = fake(blue_app())
    targets: list[dict[str, Any]] = []

    def connect(**target: Any) -> FakeKube:
        targets.append(target)
        return k

    monkeypatch.setattr(ops, "connect", connect)
    k.targets = targets  # type: ignore[attr-defined]
    return k


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def one_line_error(code: int, err: str, want: int, *needles: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == want, (code, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("kprism: error: "), lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


# -- the context object: options before and after the command ---------------------------


def test_output_and_namespace_are_global_and_also_accepted_after_the_command(
    kube: FakeKube,
) -> None:
    code, out, _ = run("-o", "json", "list")  # issue 9 item 10: "No such option: -o"
    assert code == 0
    assert [a["name"] for a in json.loads(out)] == [SERVICE]
    code, out, _ = run("list", "-o", "json")
    assert code == 0 and json.loads(out)[0]["namespace"] == NS
    code, out, _ = run("-o", "yaml", "status", SERVICE, "-o", "json")  # after the command wins
    assert code == 0 and json.loads(out)["app"] == SERVICE
    run("-n", "one", "--context", "c1", "--kubeconfig", "/k1", "status", SERVICE, "-n", "two")
    assert kube.targets[-1] == {"kubeconfig": "/k1", "context": "c1", "namespace": "two"}  # type: ignore[attr-defined]
    run("history", SERVICE, "--context", "c2")
    assert kube.targets[-1] == {"kubeconfig": None, "context": "c2", "namespace": None}  # type: ignore[attr-defined]


def test_constants_repeated_for_a_fast_start_match_ops() -> None:
    assert cli_app.TRACK_LABEL == ops.DEFAULT_TRACK_LABEL
    assert [s.value for s in cli_app.StrategyName] == [s.value for s in Strategy]
    assert cli_tracks.MAX_REPLICAS == ops.MAX_REPLICAS


# -- one-line errors, exit codes, nothing written ---------------------------------------


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["no-such-command"], ["No such command 'no-such-command'", "see `kprism --help`"]),
        (["-o", "xml", "list"], ["'xml' is not one of", "--output"]),
        (["list", "-o", "xml"], ["'xml' is not one of", "`kprism list --help`"]),
        (["scale", SERVICE, "--track", "blue", "--replicas", "abc"], ["--replicas"]),
        (["scale", SERVICE, "--track", "blue", "--replicas", "2147483648"], ["2147483647"]),
        (["clone", SERVICE, "--track", "red", "-i", "a:1", "--replicas", "-1"], ["--replicas"]),
        (["web", "--port", "99999"], ["--port", "65535"]),
        (
            ["release", SERVICE, "-i", "a:2", "--scale-down-delay", "nan"],
            ["--scale-down-delay", "nan"],
        ),
        (["release", SERVICE, "-i", "a:2", "--ready-timeout", "inf"], ["--ready-timeout", "inf"]),
        (["release", SERVICE, "-i", "a:2", "--ready-timeout", "0"], ["--ready-timeout"]),
        (["release", SERVICE, "-i", "a:2", "--scale-down-delay", "-1"], ["--scale-down-delay"]),
        (["release", SERVICE, "-i", "a:2", "--timeout", "1e999"], ["--timeout", "inf"]),
        (["rollback", SERVICE, "--scale-down-delay", "abc"], ["not a number of seconds"]),
        (["resume", SERVICE, "--wait-for-lease", "-inf"], ["--wait-for-lease"]),
        (["split", SERVICE, "blue=100", "--timeout", "nan"], ["--timeout"]),
        (["release", SERVICE, "--strategy", "canary"], ["--strategy canary needs --steps"]),
        (["release", SERVICE, "--pause", "1m", "-i", "a:2"], ["--pause goes with --steps"]),
        (["release", SERVICE, "-f", "a\0b"], ["-f", "null"]),
        (
            ["release", SERVICE, "--patch-file", "/nonexistent/p.yaml"],
            ["--patch-file", "No such file"],
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_connects_to_nothing(
    kube: FakeKube, args: list[str], needles: list[str]
) -> None:
    code, out, err = run(*args)
    one_line_error(code, err, 2, *needles)
    assert out == ""
    assert kube.targets == []  # type: ignore[attr-defined]  # refused before connecting
    assert kube.applied == [] and kube.holders == {}


def test_a_patch_file_of_the_wrong_shape_is_refused_before_connecting(
    kube: FakeKube, tmp_path: Path
) -> None:
    patch = tmp_path / "patch.yaml"
    for text, needle in [
        ("spec:\n  containers: 5\n", "spec.containers must be a list of containers, not 5"),
        ("containers: 5\n", "unknown key 'containers'"),
        ("spec: [unclosed\n", "not valid YAML"),
    ]:
        patch.write_text(text)
        code, _, err = run("release", SERVICE, "--patch-file", str(patch))
        one_line_error(code, err, 2, f"--patch-file {patch}: ", needle)
        code, _, err = run("clone", SERVICE, "--track", "red", "--patch-file", str(patch))
        one_line_error(code, err, 2, needle)
    assert kube.targets == []  # type: ignore[attr-defined]


def test_scale_beyond_int32_writes_no_lease(kube: FakeKube) -> None:
    """ops refuses before the Lease too (the dashboard's path), not only the CLI."""
    app_ref = ops.App(name=SERVICE, namespace=NS)
    with pytest.raises(UsageError, match="--replicas 2147483648: must be from 0 to 2147483647"):
        ops.scale(kube, app_ref, track="blue", replicas=2**31)
    assert kube.holders == {} and kube.applied == []


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "is empty"),
        ("garbage: [unclosed\n", "is not valid YAML"),
        ("just a string\n", "is not a kubeconfig"),
        ("apiVersion: v1\nkind: Config\n", "is not a kubeconfig"),
    ],
)
def test_a_kubeconfig_that_is_empty_or_garbage_is_one_line(
    tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    code, _, err = run("status", SERVICE, "--kubeconfig", str(path))
    one_line_error(code, err, 2, f"kubeconfig {str(path)!r}", needle, "--kubeconfig PATH")


def test_kprism_errors_print_one_line_with_their_exit_code(kube: FakeKube) -> None:
    code, _, err = run("promote", SERVICE)
    one_line_error(code, err, 2, "nothing to promote")
    code, _, err = run("status", "nope")
    one_line_error(code, err, 2, "app 'nope' not found")


def test_a_multi_line_message_is_printed_as_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    cli_app.print_error("first\n  second\n\nthird")
    assert capsys.readouterr().err == "kprism: error: first second third\n"


# -- help ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in ORDER if n != "version"])
def test_help_shows_metavars_and_examples(name: str) -> None:
    code, out, _ = run(name, "--help")
    assert code == 0
    for placeholder in ("<str>", "<list[str]>", "<float>", "<int>", "<path>", "{app", "{APP"):
        assert placeholder not in out, (placeholder, out)
    assert "\n  Examples:\n" in out, out
    assert f"kprism {name} " in out or f" {name} " in out


# -- promote prints the state after the promotion -----------------------------------------


def test_promote_prints_the_state_after_the_engine_took_it(
    kube: FakeKube, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = ops.App(name=SERVICE, namespace=NS)
    _, lease = ops.start_release(kube, ref, V2)
    # drive it to the promotion gate, as the engine holding the Lease would
    ops.drive(kube, ref, lease=lease, until=ops.stop_at_wait_points, timeout=30)
    lease.acquire()  # …and that engine is still alive, holding the Lease
    before = ops.app_status(kube, ref).release
    assert before is not None and "kprism promote" in before.message
    real_await = ops.await_intent

    def engine_takes_it(*args: Any, **kwargs: Any) -> Any:
        assert read_intent(kube.get_service(SERVICE, NS)) is not None  # written, not yet taken
        ops.drive(kube, ref, lease=lease, timeout=30)  # the live engine acts on it
        lease.acquire()
        return real_await(*args, **kwargs)

    monkeypatch.setattr(ops, "await_intent", engine_takes_it)
    code, out, err = run("promote", SERVICE)
    assert code == 0, err
    assert "kprism promote" not in out  # issue 9 item 11
    assert out.startswith("Succeeded release"), out
    lease.release()


def test_await_intent_gives_up_on_the_clock_when_nobody_takes_it(kube: FakeKube) -> None:
    from tests.unit.fakekube import FakeClock

    ref = ops.App(name=SERVICE, namespace=NS)
    st, lease = ops.start_release(kube, ref, V2)
    ops.send_intent(kube, ref, Action.PAUSE)
    clock = FakeClock()
    after, taken = ops.await_intent(kube, ref, timeout=5, clock=clock)
    assert not taken and after is not None and after.id == st.id
    assert clock.monotonic() >= 5
    svc = kube.get_service(SERVICE, NS)
    kube.patch_service(SERVICE, NS, status_patch(svc, after, consume_intent=True))
    after, taken = ops.await_intent(kube, ref, timeout=5, clock=clock)
    assert taken
    lease.release()


# -- status: per-track endpoints, --watch -------------------------------------------------


def test_track_rows_count_their_own_endpoints_when_the_selector_has_no_track_label() -> None:
    """Issue 9 item 9: every row showed the Service's total."""

    def dep(name: str) -> DeploymentObs:
        return DeploymentObs(name=name, track=None, replicas=2, ready=2, selector={"app": "a"})

    def pod(name: str, owner: str | None, track: str | None = None) -> PodObs:
        return PodObs(name=name, track=track, ready=True, terminating=False, owner=owner)

    obs = AppObs(
        namespace=NS,
        service=ServiceObs(name="a", selector={"app": "a"}),
        track_label="color",
        deployments=(dep("a"), dep("a-canary")),
        pods=(
            pod("a-1", "a-5d8f9"),
            pod("a-2", "a-5d8f9"),
            pod("c-1", "a-canary-7c9b4"),
            pod("x-1", None),
        ),
        endpoints=frozenset({"a-1", "a-2", "c-1", "x-1"}),
    )
    rows = {t.deployment: t.endpoints for t in track_views(obs)}
    assert rows == {"a": 2, "a-canary": 1}


def _view(phase: Phase | None, message: str = "", ready: int = 3) -> ops.AppStatus:
    release = None
    if phase is not None:
        release = dataclasses.replace(new_release(blue_app()), phase=phase, message=message)
    return ops.AppStatus(
        app=ops.App(name=SERVICE, namespace=NS),
        selector={"app": "hello", "color": "blue"},
        tracks=(
            ops.TrackView(
                track="blue",
                deployment="hello-blue",
                replicas=3,
                ready=ready,
                images={"hello": "hello:1"},
                serving=True,
                endpoints=ready,
            ),
        ),
        release=release,
        intent=None,
        lease=None,
        endpoints=ready,
    )


def _watch(
    views: list[ops.AppStatus], fmt: Output, *, terminal: bool, capsys: Any = None
) -> tuple[int, str, int]:
    buf = io.StringIO()
    console = Console(file=buf, width=120, force_terminal=terminal, color_system=None)
    feed = iter(views)
    sleeps: list[float] = []
    code = cli_inspect.watch_status(lambda: next(feed), fmt, console=console, sleep=sleeps.append)
    return code, buf.getvalue() if capsys is None else capsys.readouterr().out, len(sleeps)


def test_watch_piped_prints_the_first_view_then_only_changes_and_exits_with_the_outcome() -> None:
    views = [
        _view(Phase.PROGRESSING, "waiting for hello-green"),
        _view(Phase.PROGRESSING, "waiting for hello-green"),
        _view(Phase.PROGRESSING, "switching"),
        _view(Phase.PROGRESSING, "switching", ready=2),
        _view(Phase.SUCCEEDED, "done", ready=2),
    ]
    code, out, sleeps = _watch(views, Output.table, terminal=False)
    assert code == 0 and sleeps == 4
    lines = out.splitlines()
    assert lines[0].startswith("app hello in ns") and lines[1].startswith("TRACK")
    assert out.count("TRACK") == 1  # the header row once: it never changed
    assert len(lines) == len(set(lines))  # nothing printed twice
    assert [ln.split(" — ")[-1] for ln in lines if ln.startswith("release r1")] == [
        "waiting for hello-green",
        "switching",
        "done",
    ]
    assert sum(ln.startswith("app hello in ns") for ln in lines) == 2  # 3, then 2 endpoints
    assert "\x1b[" not in out


def test_watch_exits_1_when_the_release_fails_or_is_aborted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for phase in (Phase.FAILED, Phase.ABORTED):
        code, out, _ = _watch(
            [_view(Phase.PROGRESSING, "x"), _view(phase, "y")], Output.table, terminal=False
        )
        assert code == 1, phase
        assert out.splitlines()[-1].endswith(f"{phase.value} at step pin-service — y")
    capsys.readouterr()
    code, out, sleeps = _watch(
        [_view(Phase.PROGRESSING), _view(Phase.PROGRESSING), _view(Phase.ABORTED)],
        Output.json,
        terminal=False,
        capsys=capsys,
    )
    assert code == 1 and sleeps == 2
    docs = [json.loads(d) for d in out.replace("}\n{", "}\x00{").split("\x00")]
    assert [d["release"]["phase"] for d in docs] == ["Progressing", "Aborted"]  # changes only


def test_watch_redraws_in_place_on_a_terminal() -> None:
    views = [_view(Phase.PROGRESSING, f"step {i}") for i in range(5)]
    code, out, sleeps = _watch(
        [*views, _view(Phase.SUCCEEDED, "done")], Output.table, terminal=True
    )
    assert code == 0 and sleeps == 5
    assert "\x1b[2K" in out or "\x1b[1A" in out  # lines erased and redrawn, not appended
    assert "done" in out


def test_watch_with_nothing_in_progress_prints_once() -> None:
    code, out, sleeps = _watch([_view(None)], Output.table, terminal=False)
    assert (code, sleeps) == (0, 0) and "app hello" in out
    code, out, sleeps = _watch([_view(Phase.FAILED, "boom")], Output.table, terminal=False)
    assert (code, sleeps) == (1, 0)


def test_abort_exits_0_when_handed_to_an_engine_and_1_when_it_ended_the_release_here(
    kube: FakeKube, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = ops.App(name=SERVICE, namespace=NS)
    _, lease = ops.start_release(kube, ref, V2)
    real_await = ops.await_intent

    def engine_takes_it(*args: Any, **kwargs: Any) -> Any:
        ops.drive(kube, ref, lease=lease, timeout=30)  # the live engine aborts the release
        return real_await(*args, **kwargs)

    monkeypatch.setattr(ops, "await_intent", engine_takes_it)
    code, out, err = run("abort", SERVICE)
    assert code == 0, err
    assert out.startswith("Aborted release"), out
    monkeypatch.setattr(ops, "await_intent", real_await)
    _, lease = ops.start_release(kube, ref, V2)
    lease.release()  # nobody drives it: abort carries it out here
    code, out, err = run("abort", SERVICE)
    assert code == 1, err
    assert out.startswith("Aborted release"), out


def test_help_and_version_load_neither_ops_nor_the_doctor() -> None:
    """Issue 11: ``kprism --help``/``--version`` start fast; ops (the Kubernetes client,
    the planner) and the doctor's rule engine load only when a command needs them."""
    script = (
        "import sys\n"
        "from kprism.cli.main import main\n"
        "for argv in (['--help'], ['--version'], ['release', '--help'], ['status', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, (argv, exc.code)\n"
        "heavy = ('kprism.ops', 'kprism.kube', 'kprism.plan', 'kprism.model.steps',\n"
        "         'kprism.cli.doctor', 'lightkube', 'httpx2')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout[-500:]
    assert re.search(r"\n  doctor +Check manifests or live apps", out.stdout), out.stdout


def test_the_doctor_loads_when_it_is_used() -> None:
    code, out, _ = run("doctor", "--help")
    assert code == 0 and out.startswith("Usage: kprism doctor [OPTIONS] [APP]")
    code, _, err = run("doctor")
    one_line_error(code, err, 2, "name an APP")


def test_plan_is_release_dry_run_with_the_same_options(kube: FakeKube) -> None:
    code, out, err = run("plan", SERVICE, "-i", "hello=hello:2", "--scale-down-delay", "5")
    assert code == 0, err
    assert out.startswith("release of hello-blue (blue) into green — dry run, nothing changed:")
    code, out, err = run("-o", "json", "release", SERVICE, "-i", "hello=hello:2", "--dry-run")
    assert code == 0, err
    assert json.loads(out)["release"]["candidate"] == "green"
    assert kube.applied == [] and kube.holders == {}
    code, _, err = run("plan", SERVICE, "-i", "hello=hello:2", "--no-wait")
    one_line_error(code, err, 2, "No such option: --no-wait")


def test_the_doctor_uses_the_context_object(kube: FakeKube, tmp_path: Path) -> None:
    """``kprism --context c -n ns doctor APP``: the doctor connects where every command does;
    ``-o json`` given before the command gives its JSON report."""
    code, out, err = run("--context", "c1", "-n", NS, "-o", "json", "doctor", SERVICE)
    assert code in (0, 1), err
    assert kube.targets == [{"kubeconfig": None, "context": "c1", "namespace": NS}]  # type: ignore[attr-defined]
    assert json.loads(out)["apps"]
    code, out, err = run("-o", "json", "doctor", SERVICE, "-o", "text", "--kubeconfig", "/k")
    assert not out.lstrip().startswith("{"), out
    assert kube.targets[-1] == {"kubeconfig": "/k", "context": None, "namespace": None}  # type: ignore[attr-defined]
