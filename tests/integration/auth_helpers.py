"""Two users with different Roles and a dashboard with its own ServiceAccount, on the
real cluster: what the sign-in tests (integration and browser) share.

- ``releaser``: the Role of docs/rbac-role.yaml (what kprism needs to release);
- ``viewer``: the same Role with only its get/list/watch verbs;
- ``second``: another user bound to the releaser's Role (two users on one app);
- ``kprism-dashboard``: the dashboard's ServiceAccount with exactly the rules
  ``kprism install --dashboard`` ships (``plan.install.DASHBOARD_RULES``: TokenReview and
  impersonation, nothing else), its kubeconfig built from a TokenRequest token — the
  dashboard runs as it would in the cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ServiceAccount, ServiceAccountToken
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding

from kprism.plan.install import DASHBOARD_RULES
from tests.integration.test_install import token_kubeconfig

ROOT = Path(__file__).resolve().parents[2]
READ_VERBS = {"get", "list", "watch"}


def token(kube: Client, namespace: str, sa: str, seconds: int = 3600) -> str:
    """A TokenRequest token of ServiceAccount ``namespace/sa`` (as ``kubectl create token``)."""
    tr = kube.create(
        ServiceAccountToken(
            metadata=ObjectMeta(name=sa),
            spec=TokenRequestSpec(audiences=[], expirationSeconds=seconds),
        ),
        sa,
        namespace=namespace,
    )
    return str(tr.status.token)


def _role(name: str, *, read_only: bool) -> dict[str, Any]:
    role = yaml.safe_load((ROOT / "docs" / "rbac-role.yaml").read_text())
    rules = []
    for rule in role["rules"]:
        verbs = [v for v in rule["verbs"] if not read_only or v in READ_VERBS]
        if verbs:
            rules.append({**rule, "verbs": verbs})
    return {**role, "metadata": {"name": name}, "rules": rules}


@dataclass
class Team:
    namespace: str
    releaser: str  # user names as the API server knows them
    viewer: str
    second: str
    releaser_token: str
    viewer_token: str
    second_token: str
    dashboard_kubeconfig: str


@contextmanager
def team(kube: Client, kubeconfig: str, namespace: str, tmp: Path) -> Iterator[Team]:
    """The two users bound in ``namespace`` and the dashboard's ServiceAccount."""
    for sa in ("releaser", "viewer", "second", "kprism-dashboard"):
        kube.create(ServiceAccount(metadata=ObjectMeta(name=sa)), namespace=namespace)
    for who, read_only in (("releaser", False), ("viewer", True), ("second", False)):
        role = "releaser" if who == "second" else who
        if who != "second":
            kube.create(from_dict(_role(who, read_only=read_only)), namespace=namespace)
        kube.create(
            from_dict(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": who},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Role",
                        "name": role,
                    },
                    "subjects": [{"kind": "ServiceAccount", "name": who, "namespace": namespace}],
                }
            ),
            namespace=namespace,
        )
    cluster_name = f"kprism-dashboard-{namespace}"
    kube.create(
        from_dict(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": cluster_name},
                "rules": list(DASHBOARD_RULES),
            }
        )
    )
    kube.create(
        from_dict(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": cluster_name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": cluster_name,
                },
                "subjects": [
                    {"kind": "ServiceAccount", "name": "kprism-dashboard", "namespace": namespace}
                ],
            }
        )
    )
    try:
        yield Team(
            namespace=namespace,
            releaser=f"system:serviceaccount:{namespace}:releaser",
            viewer=f"system:serviceaccount:{namespace}:viewer",
            second=f"system:serviceaccount:{namespace}:second",
            releaser_token=token(kube, namespace, "releaser"),
            viewer_token=token(kube, namespace, "viewer"),
            second_token=token(kube, namespace, "second"),
            dashboard_kubeconfig=token_kubeconfig(
                kube, kubeconfig, namespace, "kprism-dashboard", tmp / "dashboard-kubeconfig"
            ),
        )
    finally:
        kube.delete(ClusterRoleBinding, cluster_name)
        kube.delete(ClusterRole, cluster_name)
