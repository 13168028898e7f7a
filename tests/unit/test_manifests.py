"""Manifests: objects with file:line, multi-document and List files, and comment-safe fixes."""

from __future__ import annotations

import difflib
import io
import os
import re
import shutil
from pathlib import Path

import pytest

from kprism.errors import InvalidSpecError, NotFoundError, UsageError
from kprism.files.manifests import Manifest, apply_fixes, load, load_text
from kprism.plan.doctor import Edit, ObjectFix, ObjectRef, audit, plan_fixes

FIXTURES = Path(__file__).parent / "fixtures" / "doctor"
SEED = FIXTURES / "seed.yaml"
C0 = "/spec/template/spec/containers/0"


def line_of(text: str, needle: str, nth: int = 0) -> int:
    """1-based line of the ``nth`` line that equals ``needle`` once stripped."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if line.strip() == needle]
    return hits[nth]


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    path = tmp_path / "seed.yaml"
    shutil.copy(SEED, path)
    return path


def _fix(manifests: list[Manifest]) -> list[str]:
    objs = [m.obj for m in manifests]
    return apply_fixes(manifests, plan_fixes(objs, audit(objs)))


def test_seed_objects_sources_and_lines() -> None:
    text = SEED.read_text()
    ms = load([str(SEED)])
    assert [(m.obj["kind"], m.obj["metadata"]["name"], m.doc) for m in ms] == [
        ("Deployment", "py-hello-blue", 0),
        ("Deployment", "py-hello-green", 1),
        ("Service", "py-hello-service", 2),
    ]
    assert all(m.source == str(SEED) for m in ms)
    blue, green, svc = ms
    assert blue.line() == line_of(text, "apiVersion: apps/v1")
    assert blue.line(C0 + "/args/0") == line_of(text, "- |")
    assert green.line(C0 + "/args/0") == line_of(text, "- |", nth=1)
    # a missing field points at its nearest existing parent: the container
    assert blue.line(C0 + "/readinessProbe") == line_of(text, "- name: hello")
    assert blue.line(C0 + "/lifecycle/preStop/exec") == line_of(text, "exec:")
    assert svc.line("/spec/selector") == line_of(text, "selector:", nth=2)
    assert green.line("/spec/template/spec/terminationGracePeriodSeconds") == line_of(
        text, "terminationGracePeriodSeconds: 30", nth=1
    )


def test_objects_are_plain_python() -> None:
    (m,) = load_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n",
        source="x",
    )
    assert type(m.obj) is dict
    assert type(m.obj["spec"]["ports"]) is list
    assert type(m.obj["spec"]["ports"][0]["port"]) is int
    assert type(m.obj["metadata"]["name"]) is str


def test_skips_empty_comment_only_and_non_kubernetes_documents() -> None:
    text = (
        "# header comment only\n"
        "---\n"
        "---\n"
        "replicaCount: 3  # a Helm values file\n"
        "---\n"
        "- just\n- a list\n"
        "--- # separator with a comment\n"
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: c\n"
        "...\n"
    )
    (m,) = load_text(text, source="mixed.yaml")
    assert m.obj["metadata"]["name"] == "c"
    assert m.doc == 4
    assert m.line("/metadata/name") == 12


def test_kind_list_yields_items_with_their_lines() -> None:
    text = (
        "apiVersion: v1\n"
        "kind: List\n"
        "items:\n"
        "- apiVersion: v1\n"
        "  kind: Service\n"
        "  metadata:\n"
        "    name: a\n"
        "- apiVersion: v1\n"
        "  kind: Service\n"
        "  metadata:\n"
        "    name: b\n"
    )
    a, b = load_text(text, source="list.yaml")
    assert (a.item, b.item) == (0, 1)
    assert b.obj["metadata"]["name"] == "b"
    assert b.line("/metadata/name") == 11


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Service\n---\napiVersion: v1\nkind: [Service\nmetadata: {}\n"
    )
    with pytest.raises(InvalidSpecError) as info:
        load([str(path)])
    message = str(info.value)
    assert message.startswith(f"{path}:")
    assert "invalid YAML" in message
    assert "\n" not in message
    line = int(message.split(":")[1])
    assert 5 <= line <= 7  # in the second document, not counted from its start


def test_duplicate_keys_are_bad_yaml() -> None:
    with pytest.raises(InvalidSpecError, match=r"^d\.yaml:3: invalid YAML"):
        load_text("apiVersion: v1\nkind: Service\nkind: Pod\n", source="d.yaml")


def test_missing_path_and_nothing_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such file"):
        load([str(tmp_path / "nope.yaml")])
    (tmp_path / "values.yaml").write_text("replicaCount: 1\n")
    with pytest.raises(InvalidSpecError, match="no Kubernetes objects"):
        load([str(tmp_path)])


def test_directory_recursion(tmp_path: Path) -> None:
    svc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n"
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    (tmp_path / "b.yaml").write_text(svc.format(name="b"))
    (tmp_path / "a.yml").write_text(svc.format(name="a"))
    (tmp_path / "sub" / "deeper" / "c.YAML").write_text(svc.format(name="c"))
    (tmp_path / ".git" / "x.yaml").write_text(svc.format(name="hidden"))
    (tmp_path / ".hidden.yaml").write_text(svc.format(name="hidden"))
    (tmp_path / "notes.txt").write_text(svc.format(name="txt"))
    names = [m.obj["metadata"]["name"] for m in load([str(tmp_path), str(tmp_path / "a.yml")])]
    assert names == ["a", "b", "c"]  # sorted, hidden skipped, a.yml not loaded twice


def test_stdin() -> None:
    stdin = io.StringIO(SEED.read_text())
    ms = load(["-"], stdin=stdin)
    assert len(ms) == 3
    assert ms[0].source == "<stdin>"


def test_fix_preserves_comments_and_untouched_documents(seed: Path) -> None:
    before = seed.read_text()
    assert _fix(load([str(seed)])) == [str(seed)]
    after = seed.read_text()
    # the comment lines survive byte for byte
    tini = '        # command: ["/usr/bin/tini", "--", "bash", "-c"]\n'
    assert after.count(tini) == before.count(tini) == 2
    assert after.startswith("# The seed article's blue/green app: two tracks and one Service.\n")
    # the Service document is not touched at all (its comments and odd key order included)
    svc_before = before[before.rindex("---\n") :]
    assert after.endswith(svc_before)
    assert "    #color: green\n    #color: blue\n" in after
    # the Deployments changed exactly where the fixes say, in the file's own style
    assert after.count("            sleep:\n              seconds: 5\n") == 2
    assert after.count("        - |\n          exec python app.py\n") == 2
    assert after.count('        command: ["sh", "-c"]\n') == 2  # flow style kept
    assert after.count('            memory: "200Mi"\n') == 2  # quotes kept
    removed = set(before.splitlines()) - set(after.splitlines())
    assert removed == {
        "            exec:",
        '              command: ["sleep", "5"]',
        "          python app.py",
    }


def test_fixed_files_audit_clean_for_fixable_rules(seed: Path) -> None:
    _fix(load([str(seed)]))
    ms = load([str(seed)])
    findings = audit([m.obj for m in ms])
    assert [f for f in findings if f.fixable] == []
    assert sorted({f.rule_id for f in findings}) == ["KP013"]
    assert _fix(ms) == []  # nothing left to do: the file is not written again


def test_fix_keeps_indented_sequence_style(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        "    name: d  # four-space mappings\n"
        "spec:\n"
        "    template:\n"
        "        spec:\n"
        "            containers:\n"
        "              - name: app\n"
        "                image: app:1\n"
        "                ports:\n"
        "                  - containerPort: 80\n"
        "                readinessProbe:\n"
        "                    tcpSocket: {port: 80}\n"
        "                resources:\n"
        "                    limits: {memory: 1Gi}\n"
    )
    _fix(load([str(path)]))
    text = path.read_text()
    assert "    name: d  # four-space mappings\n" in text
    assert "              - name: app\n" in text
    assert (
        "                lifecycle:\n"
        "                    preStop:\n"
        "                        sleep:\n"
        "                            seconds: 10\n"
    ) in text
    assert audit([m.obj for m in load([str(path)])]) == []


def test_replaced_hook_keeps_its_trailing_comment(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        "  name: d\n"
        "spec:\n"
        "  template:\n"
        "    spec:\n"
        "      containers:\n"
        "      - name: app\n"
        "        image: app:1\n"
        "        lifecycle:\n"
        "          preStop:\n"
        "            exec:\n"
        '              command: ["sleep", "2"]  # too short\n'
        "        # keep this note\n"
        "        readinessProbe:\n"
        "          tcpSocket: {port: 80}\n"
    )
    _fix(load([str(path)]))
    text = path.read_text()
    assert "# too short" in text
    assert "        # keep this note\n" in text
    assert "seconds: 10" in text


def test_fix_writes_crlf_files_as_crlf(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_bytes(SEED.read_bytes().replace(b"\n", b"\r\n"))
    _fix(load([str(path)]))
    data = path.read_bytes()
    assert b"exec python app.py\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r\r" not in data


def test_fix_refuses_stdin() -> None:
    (m,) = load(["-"], stdin=io.StringIO(SEED.read_text().split("---")[0]))
    fix = ObjectFix(
        index=0,
        object_ref=ObjectRef(kind="Deployment", namespace="default", name="py-hello-blue"),
        rule_ids=("KP014",),
        edits=(Edit(path=C0 + "/args/0", value="exec python app.py\n"),),
    )
    with pytest.raises(UsageError, match="stdin"):
        apply_fixes([m], [fix])


def test_fix_creates_missing_parents(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: 2\n"
    )
    (m,) = load([str(path)])
    fix = ObjectFix(
        index=0,
        object_ref=ObjectRef(kind="Deployment", namespace="default", name="d"),
        rule_ids=("KP006",),
        edits=(Edit(path="/spec/strategy/rollingUpdate/maxUnavailable", value=0),),
    )
    apply_fixes([m], [fix])
    assert path.read_text().endswith(
        "spec:\n  replicas: 2\n  strategy:\n    rollingUpdate:\n      maxUnavailable: 0\n"
    )


# ------------------------------------------- only the lines of the fix change (issue 9, 12)

_FIX_LINE = re.compile(
    r"^ *(lifecycle:|preStop:|sleep:|seconds: \d+|terminationGracePeriodSeconds: \d+"
    r"|readinessProbe:|tcpSocket:|port: \w+|periodSeconds: 2|failureThreshold: 3)\r?\n?$"
)


def _changes(before: str, after: str) -> tuple[list[str], list[str]]:
    """(lines removed, lines added) between two texts, line by line."""
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    removed: list[str] = []
    added: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal":
            removed += a[i1:i2]
            added += b[j1:j2]
    return removed, added


@pytest.mark.parametrize("name", ["online-boutique.yaml", "sock-shop.yaml"])
def test_fix_changes_only_the_lines_of_the_fix_in_real_manifests(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    shutil.copy(FIXTURES / name, path)
    before = path.read_text()
    assert _fix(load([str(path)]))
    after = path.read_text()
    removed, added = _changes(before, after)
    # every line that is not part of a fix is still there, byte for byte
    assert all(_FIX_LINE.match(line) for line in removed), removed
    assert added, "the fix added nothing"
    assert all(_FIX_LINE.match(line) for line in added), added
    ms = load([str(path)])
    assert [f for f in audit([m.obj for m in ms]) if f.fixable] == []


def test_fix_inserts_in_the_containers_own_indentation(tmp_path: Path) -> None:
    path = tmp_path / "sock-shop.yaml"
    shutil.copy(FIXTURES / "sock-shop.yaml", path)
    _fix(load([str(path)]))
    text = path.read_text()
    # carts: env items indented by one more space than their key, volumeMounts by none
    assert (
        "        - mountPath: /tmp\n"
        "          name: tmp-volume\n"
        "        lifecycle:\n"
        "          preStop:\n"
        "            sleep:\n"
        "              seconds: 10\n"
        "        readinessProbe:\n"
        "          tcpSocket:\n"
        "            port: 80\n"
        "          periodSeconds: 2\n"
        "          failureThreshold: 3\n"
        "      volumes:\n"
    ) in text
    assert "         - name: JAVA_OPTS\n" in text
    assert "          drop:\n              - all\n" in text
    # front-end: after its last key, before the pod spec's next key
    assert (
        "          periodSeconds: 3\n"
        "        lifecycle:\n"
        "          preStop:\n"
        "            sleep:\n"
        "              seconds: 10\n"
        "      nodeSelector:\n"
    ) in text


_TAIL_HEAD = (
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata:\n"
    "  name: d\n"
    "spec:\n"
    "  template:\n"
    "    spec:\n"
    "      containers:\n"
    "      - name: app\n"
    "        image: app:1\n"
    "        resources: {limits: {memory: 1Gi}}\n"
    "        readinessProbe: {tcpSocket: {port: 80}}\n"
    "        lifecycle: {preStop: {sleep: {seconds: 10}}}\n"
)


@pytest.mark.parametrize(
    ("tail", "fixed"),
    [
        # a literal block at the end of the file keeps its final newline and indicator
        (
            '        command: ["sh", "-c"]\n        args:\n        - |\n          python app.py\n',
            '        command: ["sh", "-c"]\n        args:\n        - |\n          exec python app.py\n',
        ),
        # ... also when the file has no final newline
        (
            '        command: ["sh", "-c"]\n        args:\n        - |\n          python app.py',
            '        command: ["sh", "-c"]\n        args:\n        - |\n          exec python app.py',
        ),
        # an indented sequence keeps its offset; the pod spec's next key is untouched
        (
            '        command: ["sh", "-c"]\n        args:\n          - |\n            python app.py\n'
            "        ports: [{containerPort: 80}]\n      volumes: []\n",
            '        command: ["sh", "-c"]\n        args:\n          - |\n'
            "            exec python app.py\n"
            "        ports: [{containerPort: 80}]\n      volumes: []\n",
        ),
        # a keep-chomped block keeps its blank line; the document end marker stays
        (
            "        command:\n        - sh\n        - -c\n        - |+\n          python app.py\n\n...\n",
            "        command:\n        - sh\n        - -c\n        - |+\n          exec python app.py\n\n...\n",
        ),
        # a flow sequence stays a flow sequence with its quotes
        (
            '        command: [ "sh", "-c", "python app.py" ]  # start\n        ports: [{containerPort: 80}]\n',
            '        command: ["sh", "-c", "exec python app.py"] # start\n        ports: [{containerPort: 80}]\n',
        ),
    ],
)
def test_rewritten_block_scalars_keep_their_form(tmp_path: Path, tail: str, fixed: str) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(_TAIL_HEAD + tail)
    _fix(load([str(path)]))
    assert path.read_text() == _TAIL_HEAD + fixed


def test_fix_keeps_comments_and_odd_spacing_around_an_inserted_key(tmp_path: Path) -> None:
    text = (
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        "   name: d     # three spaces\n"
        "spec:\n"
        "   replicas: 2\n"
        "   template:\n"
        "      spec:\n"
        "         containers:\n"
        "            -   name: app\n"
        "                image: 'app:1'\n"
        "                ports:\n"
        "                - {containerPort: 80}\n"
        "                readinessProbe: {tcpSocket: {port: 80}}\n"
        "                resources: {limits: {memory: 1Gi}}\n"
        "                # the end of the container\n"
        "\n"
        "   strategy: {rollingUpdate: {maxUnavailable: 1}}\n"
    )
    path = tmp_path / "d.yaml"
    path.write_text(text)
    _fix(load([str(path)]))
    removed, added = _changes(text, path.read_text())
    assert removed == ["   strategy: {rollingUpdate: {maxUnavailable: 1}}\n"]
    assert added == [
        "                lifecycle:\n",
        "                   preStop:\n",
        "                      sleep:\n",
        "                         seconds: 10\n",
        "   strategy: {rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}\n",
    ]


def test_a_document_in_flow_style_is_written_again_whole(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    text = (
        "# flow\n"
        "{apiVersion: apps/v1, kind: Deployment, metadata: {name: d}, spec: {template: {spec: "
        "{containers: [{name: app, image: 'app:1', readinessProbe: {tcpSocket: {port: 80}}, "
        "resources: {limits: {memory: 1Gi}}}]}}}}\n"
    )
    path.write_text(text)
    _fix(load([str(path)]))
    (m,) = load([str(path)])
    assert m.obj["spec"]["template"]["spec"]["containers"][0]["lifecycle"] == {
        "preStop": {"sleep": {"seconds": 10}}
    }
    assert path.read_text().startswith("# flow\n")


# ------------------------------------------------ what a -f directory may hold (issue 9, 16)


@pytest.mark.timeout(20)
def test_a_fifo_named_yaml_in_a_directory_is_skipped(tmp_path: Path) -> None:
    shutil.copy(SEED, tmp_path / "seed.yaml")
    os.mkfifo(tmp_path / "pipe.yaml")  # opening it for reading would wait for a writer
    warnings: list[str] = []
    ms = load([str(tmp_path)], warnings=warnings)
    assert len(ms) == 3
    assert warnings == [f"{tmp_path / 'pipe.yaml'}: not a regular file, skipped"]


def test_a_dangling_symlink_in_a_directory_is_a_warning(tmp_path: Path) -> None:
    shutil.copy(SEED, tmp_path / "seed.yaml")
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    warnings: list[str] = []
    ms = load([str(tmp_path)], warnings=warnings)
    assert len(ms) == 3
    assert warnings == [
        f"{tmp_path / 'gone.yaml'}: dangling symlink to {tmp_path / 'nowhere.yaml'}, skipped"
    ]


def test_a_named_file_that_is_a_dangling_symlink_is_missing(tmp_path: Path) -> None:
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    with pytest.raises(NotFoundError, match=r"gone\.yaml: no such file"):
        load([str(tmp_path / "gone.yaml")])
