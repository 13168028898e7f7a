#!/usr/bin/env bash
# Run the test suite: unit tier, then the integration tier against a dedicated local
# cluster. Where the machine allows it (root, util-linux unshare), the cluster and the
# tests run in a fresh network namespace that has only loopback, so nothing they do can
# reach another address even by mistake. Extra arguments go to pytest.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
py="${VENV:-.venv}/bin/python"

# The gateway router's tests need the Gateway API CRDs, which come from the Go module
# proxy: fetch them (cached in .cache/) before entering the loopback-only namespace.
if [ -z "${KPRISM_GATEWAY_CRDS:-}" ]; then
  KPRISM_GATEWAY_CRDS=$(hack/gateway-api-crds.sh) || KPRISM_GATEWAY_CRDS=""
  export KPRISM_GATEWAY_CRDS
fi

if [ -z "${KPRISM_IN_NETNS:-}" ] && [ -z "${KPRISM_NO_NETNS:-}" ] &&
   unshare --net true 2>/dev/null; then
  exec unshare --net env KPRISM_IN_NETNS=1 bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
fi
if [ -n "${KPRISM_IN_NETNS:-}" ]; then
  echo "kprism: tests run in a loopback-only network namespace ($(ip -o link | awk -F': ' '{print $2}' | tr '\n' ' '))"
else
  echo "kprism: no network namespace here (not root or no unshare); the pytest socket guard still applies"
fi

export KPRISM_CLUSTER_NAME=kprism-test KPRISM_APISERVER_PORT=${KPRISM_APISERVER_PORT:-36543}
trap 'hack/cluster.sh down >/dev/null 2>&1 || true' EXIT
kubeconfig=$(hack/cluster.sh up | tail -1)
export KPRISM_TEST_KUBECONFIG="$kubeconfig"
"$py" -m pytest tests "$@"
