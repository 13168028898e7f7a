"""``kprism install``: the controller's manifests (:mod:`kprism.plan.install` makes them;
nothing here talks to the cluster)."""

from __future__ import annotations

from kprism.plan.install import InstallOptions, manifests
from kprism.plan.install import install as _install

__all__ = ["InstallOptions", "install_manifests", "manifests"]


def install_manifests(options: InstallOptions | None = None, fmt: str = "yaml") -> str:
    """The manifests as ``kprism install`` prints them: YAML documents or a JSON
    ``v1/List`` for ``kubectl apply -f -``. Bad options: :class:`UsageError`."""
    return _install(options, fmt)
