"""Chaos tier: the integration tier's real cluster, with faults injected on purpose.

Uses the integration fixtures (one namespace per test on the cluster ``hack/test.sh``
starts). The tests run last in the session (tests/conftest.py orders them): one of them
restarts the API server.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import kube, kubeconfig_path, namespace

__all__ = ["kube", "kubeconfig_path", "namespace"]

pytestmark = pytest.mark.integration
