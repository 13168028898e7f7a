"""Pure checks for the pod-termination race and other release hazards (issue #5).

Why this exists: when a pod is deleted, the kubelet (preStop, then SIGTERM) and the
endpoints controller (removing the pod from the Service) act *concurrently*. Until every
kube-proxy, ingress and client-side load balancer has dropped the pod's IP, new
connections still reach a process that is shutting down: HTTP 5xx on every upgrade, and
kprism would blame the new version for errors the old pods caused. The cure is plain
configuration (a preStop sleep longer than endpoint propagation, a grace period that
covers preStop plus draining, readiness probes, ``maxUnavailable: 0``, a
PodDisruptionBudget, an app that actually receives SIGTERM), so kprism checks for it.

The rules take Kubernetes objects as plain dicts, exactly as ``kubectl get -o json``, the
API server or a parsed manifest give them, so one :func:`audit` serves ``kprism doctor
-f``, the live cluster and a release pre-flight. Fixes come back as :class:`Edit` lists
that the caller applies: the file adapter (:mod:`kprism.files.manifests`) rewrites YAML
preserving comments, and :func:`to_json_patch` turns them into an RFC 6902 patch for the
API server.

The package, one module per concern:

``base``       Severity, Rule, Finding, Edit, ObjectFix
``config``     DoctorConfig
``rules/``     one module per rule (or small family): its metadata, check and fixer
``registry``   finds the rules in ``rules/``; RULES, RULES_BY_ID, resolve_rules
``runner``     audit (run the checks) and plan_fixes (run the fixers in order)
``objects``    object views and the readers every rule uses; label selectors
``pods``       pod-spec knowledge shared by rules: shells, sleeps, preStop, grace
``pointers``   JSON pointers, apply_edits, to_json_patch
``apps``       which objects make up an app; the configuration of a live audit

Everything here is pure (import-linter enforces it): no I/O, no clock, no Kubernetes
client.
"""

from __future__ import annotations

from kprism.plan.doctor.apps import app_objects, is_app_service, release_in_progress
from kprism.plan.doctor.base import (
    IGNORE_ANNOTATION,
    Edit,
    Finding,
    ObjectFix,
    ObjectRef,
    Rule,
    Severity,
)
from kprism.plan.doctor.config import DEFAULT_CONFIG, DoctorConfig
from kprism.plan.doctor.objects import label_selector_matches, selector_matches
from kprism.plan.doctor.pointers import (
    apply_edits,
    get_path,
    pointer,
    split_pointer,
    to_json_patch,
)
from kprism.plan.doctor.registry import RULES, RULES_BY_ID, resolve_rules
from kprism.plan.doctor.runner import audit, plan_fixes

__all__ = [
    "DEFAULT_CONFIG",
    "IGNORE_ANNOTATION",
    "RULES",
    "RULES_BY_ID",
    "DoctorConfig",
    "Edit",
    "Finding",
    "ObjectFix",
    "ObjectRef",
    "Rule",
    "Severity",
    "app_objects",
    "apply_edits",
    "audit",
    "get_path",
    "is_app_service",
    "label_selector_matches",
    "plan_fixes",
    "pointer",
    "release_in_progress",
    "resolve_rules",
    "selector_matches",
    "split_pointer",
    "to_json_patch",
]
