"""``kprism doctor APP``: the doctor rules on an app as the API server has it, and fixes.

Why this lives in ops: the rules (:mod:`kprism.plan.doctor`) judge plain objects and know
nothing about clusters or files. This module reads the live objects that make up an app
(which ones: :mod:`kprism.plan.doctor.apps`) with one request per kind, and turns fixes
into requests:

- every PDB of the namespace is read, so a missing one is really missing (KP007 runs with
  ``expect_pdb=True``, unlike a lone manifest file);
- KP013 (a Service mixing tracks) is skipped while a release is in progress: a canary
  by replica counts selects both tracks on purpose, and a blue-green release pins the
  Service itself;
- a fix is one RFC 6902 PATCH per Deployment that starts with ``test`` operations on
  ``metadata.generation`` (it changes with every spec change, not with status updates)
  and on the names of the containers it edits: if the Deployment changed since it was
  read, the API server rejects the whole patch and nothing changes.

The same audit is the release pre-flight (:func:`check_release`): error findings refuse
the release unless forced, warnings are printed and the release goes on.

Manifest files (``kprism doctor -f``) are audited and fixed here too
(:func:`doctor_files`): the file adapter :mod:`kprism.files.manifests` reads and rewrites
them, the same pure rules judge them. The shells render the findings.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import yaml

from kprism.errors import ConflictError, ForbiddenError, NotFoundError, UsageError
from kprism.files import STDIN, STDIN_NAME
from kprism.kube.api import KubeApi
from kprism.ops.apps import DEFAULT_TRACK_LABEL, App, app_not_found
from kprism.plan.doctor import (
    DEFAULT_CONFIG,
    RULES,
    DoctorConfig,
    Finding,
    ObjectRef,
    Severity,
    app_objects,
    apply_edits,
    audit,
    is_app_service,
    plan_fixes,
    release_in_progress,
    to_json_patch,
)
from kprism.plan.doctor import apps as _apps
from kprism.plan.doctor.objects import as_map, service_selector

if TYPE_CHECKING:  # the manifest reader (YAML round-trip) loads when doctor -f runs
    from kprism.files.manifests import Manifest

Obj = dict[str, Any]


def live_config(config: DoctorConfig, *, app: App, service: Mapping[str, Any]) -> DoctorConfig:
    """``config`` for one live app: its track label and namespace, every PDB known, and
    KP013 off while a release is in progress."""
    return _apps.live_config(
        config, track_label=app.track_label, namespace=app.namespace, service=service
    )


@dataclass(frozen=True, kw_only=True)
class LiveAudit:
    """What a live audit read and found."""

    apps: tuple[str, ...]  # "namespace/service" of every app checked
    objects: tuple[Obj, ...]  # Services, Deployments, PDBs, HPAs and pods, as read
    findings: tuple[Finding, ...]

    @property
    def checked(self) -> int:
        """How many objects were judged (pods only serve KP012 and are not counted)."""
        return sum(1 for o in self.objects if o.get("kind") != "Pod")


def _read_service(kube: KubeApi, app: App) -> Obj:
    try:
        return kube.raw_service(app.name, app.namespace)
    except NotFoundError as exc:
        raise app_not_found(kube, app) from exc


def _read_app(kube: KubeApi, app: App, *, pdbs: bool = True) -> list[Obj]:
    """The app's objects; ``pdbs=False`` skips reading PodDisruptionBudgets."""
    service = _read_service(kube, app)
    selector = service_selector(service)
    if not selector:
        raise UsageError(
            f"Service {app.name} in namespace {app.namespace} selects no pods (no selector): "
            "kprism doctor checks the Deployments an app's Service selects"
        )
    ns = app.namespace
    return app_objects(
        service,
        deployments=kube.list_objects("Deployment", ns),
        pdbs=kube.list_objects("PodDisruptionBudget", ns) if pdbs else (),
        hpas=kube.list_objects("HorizontalPodAutoscaler", ns),
        pods=kube.list_objects("Pod", ns, selector),
        track_label=app.track_label,
        services=kube.list_objects("Service", ns),  # KP017: others over the same pods
    )


def audit_app(kube: KubeApi, app: App, *, config: DoctorConfig = DEFAULT_CONFIG) -> LiveAudit:
    """Read the app's objects (six requests) and run the doctor rules on them."""
    objects = _read_app(kube, app)
    findings = audit(objects, config=live_config(config, app=app, service=objects[0]))
    return LiveAudit(
        apps=(f"{app.namespace}/{app.name}",), objects=tuple(objects), findings=tuple(findings)
    )


def doctor_app(kube: KubeApi, app: App, *, config: DoctorConfig = DEFAULT_CONFIG) -> list[Finding]:
    """The doctor's findings on one live app, worst objects first."""
    return list(audit_app(kube, app, config=config).findings)


def _ref_key(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    return str(obj.get("kind", "")), _apps.namespace_of(obj), _apps.name_of(obj)


def audit_namespace(
    kube: KubeApi,
    namespace: str | None,
    *,
    config: DoctorConfig = DEFAULT_CONFIG,
    track_label: str = DEFAULT_TRACK_LABEL,
) -> LiveAudit:
    """Audit every app (see :func:`kprism.plan.doctor.is_app_service`) in ``namespace``, or in all for None.

    One list of Services, then four lists per namespace that has apps, and one list of
    pods per app. A Deployment behind two Services is reported once.
    """
    services = sorted(kube.list_objects("Service", namespace), key=_ref_key)
    by_ns: dict[str, list[Obj]] = {}
    for svc in services:
        if service_selector(svc):
            by_ns.setdefault(_apps.namespace_of(svc), []).append(svc)
    apps: list[str] = []
    objects: dict[tuple[str, str, str], Obj] = {}
    findings: list[Finding] = []
    seen: set[tuple[str, ObjectRef, str | None, str]] = set()
    for ns, candidates in sorted(by_ns.items()):
        deployments = kube.list_objects("Deployment", ns)
        app_services = [s for s in candidates if is_app_service(s, deployments, track_label)]
        if not app_services:
            continue
        pdbs = kube.list_objects("PodDisruptionBudget", ns)
        hpas = kube.list_objects("HorizontalPodAutoscaler", ns)
        for svc in app_services:
            app = App(name=_apps.name_of(svc), namespace=ns, track_label=track_label)
            objs = app_objects(
                svc,
                deployments=deployments,
                pdbs=pdbs,
                hpas=hpas,
                pods=kube.list_objects("Pod", ns, service_selector(svc)),
                track_label=track_label,
            )
            apps.append(f"{ns}/{app.name}")
            for o in objs:
                objects.setdefault(_ref_key(o), o)
            for f in audit(objs, config=live_config(config, app=app, service=svc)):
                key = (f.rule_id, f.object_ref, f.container, f.path)
                if key not in seen:
                    seen.add(key)
                    findings.append(f)
    return LiveAudit(apps=tuple(apps), objects=tuple(objects.values()), findings=tuple(findings))


def doctor_namespace(
    kube: KubeApi,
    namespace: str | None,
    *,
    config: DoctorConfig = DEFAULT_CONFIG,
    track_label: str = DEFAULT_TRACK_LABEL,
) -> list[Finding]:
    """The doctor's findings on every app in ``namespace`` (every namespace for None)."""
    return list(audit_namespace(kube, namespace, config=config, track_label=track_label).findings)


# -- fixing ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LivePatch:
    """One Deployment's fix: the JSON patch sent (or, in a dry run, not sent) and its diff."""

    object_ref: ObjectRef
    rule_ids: tuple[str, ...]  # the rules whose fixes the patch carries
    patch: tuple[dict[str, Any], ...]  # RFC 6902 operations, ``test`` operations first
    diff: str  # unified diff of the object as YAML, before → after


def _view(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What a diff shows: kind, name and spec (no status, managedFields or annotations)."""
    meta = as_map(obj.get("metadata"))
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace")},
        "spec": obj.get("spec"),
    }


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (``sh -c`` scripts) as ``|`` blocks, so a diff shows their lines."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def _dump(obj: Mapping[str, Any]) -> str:
    return yaml.dump(_view(obj), Dumper=_BlockDumper, sort_keys=False, default_flow_style=False)


def yaml_diff(before: Mapping[str, Any], after: Mapping[str, Any], *, label: str) -> str:
    """A unified diff of two objects dumped as YAML (``--- label (live)``, ``+++ ... (fixed)``)."""
    old, new = _dump(before), _dump(after)
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"{label} (live)",
            tofile=f"{label} (fixed)",
        )
    )


def fix_app(
    kube: KubeApi, app: App, *, config: DoctorConfig = DEFAULT_CONFIG, dry_run: bool = False
) -> list[LivePatch]:
    """Patch the app's Deployments for the fixable findings; with ``dry_run`` change nothing.

    One JSON PATCH per Deployment (see the module docstring for its ``test`` operations).
    Refused while a release is in progress (unless ``dry_run``): the engine driving it
    compares the tracks' pod templates. Patching a pod template starts a rolling update
    of that Deployment, like ``kubectl edit`` would.
    """
    objects = _read_app(kube, app)
    cfg = live_config(config, app=app, service=objects[0])
    if release_in_progress(objects[0]) and not dry_run:
        raise UsageError(
            f"a release of {app.name} is in progress: kprism doctor --fix would change the pod "
            "template of a track it drives; run it when the release is over (--dry-run shows "
            "the diff now)"
        )
    findings = audit(objects, config=cfg)
    out: list[LivePatch] = []
    for plan in plan_fixes(objects, findings, config=cfg):
        obj = objects[plan.index]
        if obj.get("kind") != "Deployment":
            continue  # every fixer edits a Deployment's pod template or strategy
        generation = as_map(obj.get("metadata")).get("generation")
        patch = (
            {"op": "test", "path": "/metadata/generation", "value": generation},
            *to_json_patch(obj, plan.edits),
        )
        out.append(
            LivePatch(
                object_ref=plan.object_ref,
                rule_ids=plan.rule_ids,
                patch=patch,
                diff=yaml_diff(obj, apply_edits(obj, plan.edits), label=str(plan.object_ref)),
            )
        )
    if dry_run:
        return out
    done: list[str] = []
    for p in out:
        ref = p.object_ref
        try:
            kube.json_patch_deployment(ref.name, ref.namespace, list(p.patch))
        except NotFoundError:
            raise
        except UsageError as exc:  # HTTP 422: a failed `test`, or a value the server refuses
            already = f" (already patched: {', '.join(done)})" if done else ""
            raise ConflictError(
                f"{ref} was not patched: the API server rejected the fix ({exc}); if it changed "
                f"since kprism read it, run `kprism doctor {app.name} --fix` again{already}"
            ) from exc
        done.append(ref.name)
    return out


@dataclass(frozen=True, kw_only=True)
class LiveReport:
    """``kprism doctor APP`` or ``-A``: the apps as they are now, and what ``--fix`` did."""

    audit: LiveAudit  # after the patches, if any were sent
    patches: tuple[LivePatch, ...] = ()  # sent, or in a dry run only planned
    fixed: tuple[Finding, ...] = ()  # findings the patches removed (none in a dry run)


def _live_key(f: Finding) -> tuple[str, str, str, str]:
    return f.rule_id, str(f.object_ref), f.container or "", f.path


def doctor_live(
    kube: KubeApi,
    app: App | None,
    *,
    config: DoctorConfig = DEFAULT_CONFIG,
    track_label: str = DEFAULT_TRACK_LABEL,
    fix: bool = False,
    dry_run: bool = False,
) -> LiveReport:
    """Audit one live app (every app in every namespace for None); with ``fix``, patch the
    app first (:func:`fix_app`) and report what remains and what the patches removed."""
    if app is None:
        if fix:
            raise UsageError("--fix patches one app at a time: kprism doctor APP --fix")
        return LiveReport(audit=audit_namespace(kube, None, config=config, track_label=track_label))
    before = audit_app(kube, app, config=config) if fix and not dry_run else None
    patches = fix_app(kube, app, config=config, dry_run=dry_run) if fix else []
    after = audit_app(kube, app, config=config)
    fixed: tuple[Finding, ...] = ()
    if before is not None:
        remaining = {_live_key(f) for f in after.findings}
        fixed = tuple(f for f in before.findings if _live_key(f) not in remaining)
    return LiveReport(audit=after, patches=tuple(patches), fixed=fixed)


# -- manifest files -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Located:
    """A finding and, when it came from a file, the file and 1-based line."""

    finding: Finding
    file: str | None = None
    line: int | None = None

    @property
    def where(self) -> str:
        """``deploy.yaml:21`` or, without a file, ``Deployment ns/name``."""
        if self.file is None:
            return str(self.finding.object_ref)
        return f"{self.file}:{self.line}" if self.line else self.file


def locate(findings: Iterable[Finding], manifests: Sequence[Manifest]) -> list[Located]:
    """Attach file and line to findings of objects loaded from files.

    ``manifests[finding.index]`` must be the manifest whose object was audited at that
    position. The result is ordered by file, line and rule id.
    """
    out = []
    for f in findings:
        src = manifests[f.index]
        out.append(Located(finding=f, file=src.source, line=src.line(f.path)))
    out.sort(key=lambda x: (x.file or "", x.line or 0, x.finding.rule_id, x.finding.path))
    return out


@dataclass(frozen=True, kw_only=True)
class FileAudit:
    """What an audit of manifest files loaded and found."""

    manifests: tuple[Manifest, ...]
    findings: tuple[Finding, ...]
    warnings: tuple[str, ...] = ()  # what a directory held that could not be read

    @property
    def located(self) -> list[Located]:
        """The findings with their file and line, ordered by file and line."""
        return locate(self.findings, self.manifests)


@dataclass(frozen=True, kw_only=True)
class FileReport:
    """``kprism doctor -f``: the files as they are now, and what ``--fix`` did to them."""

    audit: FileAudit  # after the fix, if any
    written: tuple[str, ...] = ()  # files rewritten, in order
    fixed: tuple[Located, ...] = ()  # findings the fix removed, on the lines they were


def audit_files(files: Sequence[str], *, config: DoctorConfig = DEFAULT_CONFIG) -> FileAudit:
    """Load manifests (files, directories, ``-`` for stdin) and run the doctor rules."""
    from kprism.files.manifests import load

    warnings: list[str] = []
    manifests = load(list(files), warnings=warnings)
    findings = audit([m.obj for m in manifests], config=config)
    return FileAudit(manifests=tuple(manifests), findings=tuple(findings), warnings=tuple(warnings))


def check_fixable_files(files: Sequence[str]) -> None:
    """``--fix`` rewrites files in place: refuse stdin before reading anything."""
    if STDIN in files:
        raise UsageError("--fix rewrites files in place and cannot rewrite stdin (-f -)")


def fix_files(
    files: Sequence[str], before: FileAudit, *, config: DoctorConfig = DEFAULT_CONFIG
) -> tuple[list[str], FileAudit] | None:
    """Rewrite the files for the fixable findings of ``before``; the names written and a
    fresh audit of the files, or None when nothing was fixable (nothing written)."""
    plans = plan_fixes([m.obj for m in before.manifests], list(before.findings), config=config)
    if not plans:
        return None
    from kprism.files.manifests import apply_fixes

    written = apply_fixes(list(before.manifests), plans)
    return written, audit_files(files, config=config)


def _finding_key(f: Finding) -> tuple[int, str, str, str]:
    return f.index, f.rule_id, f.container or "", f.path


def doctor_files(
    files: Sequence[str], *, config: DoctorConfig = DEFAULT_CONFIG, fix: bool = False
) -> FileReport:
    """Audit manifest files; with ``fix``, rewrite them for the fixable findings first and
    report what remains (the files are loaded again) and what the fix removed."""
    if fix:
        check_fixable_files(files)
    result = audit_files(files, config=config)
    if not fix:
        return FileReport(audit=result)
    before = result.located  # lines of the files as they were
    done = fix_files(files, result, config=config)
    if done is None:
        return FileReport(audit=result)
    written, after = done
    remaining = {_finding_key(f) for f in after.findings}
    fixed = tuple(i for i in before if _finding_key(i.finding) not in remaining)
    return FileReport(audit=after, written=tuple(written), fixed=fixed)


# -- release pre-flight ---------------------------------------------------------------------


def preflight(
    objects: Sequence[Mapping[str, Any]], *, config: DoctorConfig = DEFAULT_CONFIG
) -> tuple[list[Finding], list[Finding]]:
    """(errors, warnings) of an app's objects: errors refuse a release, warnings are printed.

    Info findings are left to ``kprism doctor``; they do not delay or clutter a release.
    """
    findings = audit(objects, config=config)
    errors = [f for f in findings if f.severity is Severity.ERROR]
    warnings = [f for f in findings if f.severity is Severity.WARNING]
    return errors, warnings


def _line(f: Finding) -> str:
    return f"{f.rule_id} {f.object_ref}: {f.message}"


def check_release(kube: KubeApi, app: App, *, force: bool = False) -> tuple[str, ...]:
    """The release pre-flight: raise :class:`UsageError` for an error finding (unless
    ``force``), return one line per warning (``KP001 Deployment ns/web: ...``).

    A Role that may not list PodDisruptionBudgets does not block a release: the PDB rules
    are skipped and a warning says so (``kprism doctor APP`` itself exits 3 then).
    """
    notes: list[str] = []
    try:
        objects = _read_app(kube, app)
        config = live_config(DEFAULT_CONFIG, app=app, service=objects[0])
    except ForbiddenError as exc:
        if exc.kind != "PodDisruptionBudget":
            raise
        objects = _read_app(kube, app, pdbs=False)
        config = replace(live_config(DEFAULT_CONFIG, app=app, service=objects[0]), expect_pdb=False)
        notes.append(
            "PodDisruptionBudgets not checked (KP007, KP008): this user may not list them in "
            f"namespace {app.namespace}; see docs/rbac.md"
        )
    errors, warnings = preflight(objects, config=config)
    if errors and not force:
        f = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise UsageError(
            f"pre-flight: {f.rule_id} {f.slug} on {f.object_ref}: {f.message}; fix: {f.fix}"
            f"{more} — or pass --force to release anyway (`kprism doctor {app.name}` lists "
            "every finding)"
        )
    forced = [f"{_line(f)} (an error, released anyway with --force)" for f in errors]
    return (*forced, *(_line(f) for f in warnings), *notes)


__all__ = [
    "DEFAULT_CONFIG",
    "RULES",
    "STDIN_NAME",
    "DoctorConfig",
    "FileAudit",
    "FileReport",
    "Finding",
    "LiveAudit",
    "LivePatch",
    "LiveReport",
    "Located",
    "ObjectRef",
    "Severity",
    "app_objects",
    "audit_app",
    "audit_files",
    "audit_namespace",
    "check_fixable_files",
    "check_release",
    "doctor_app",
    "doctor_files",
    "doctor_live",
    "doctor_namespace",
    "fix_app",
    "fix_files",
    "live_config",
    "locate",
    "preflight",
    "release_in_progress",
    "yaml_diff",
]
