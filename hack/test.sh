#!/usr/bin/env bash
# Run the test suite in two isolated places:
#
# 1. unit, integration and browser tiers against a dedicated local cluster. Where the
#    machine allows it (root, util-linux unshare), the cluster and the tests run in a
#    fresh network namespace that has only loopback, so nothing they do can reach
#    another address even by mistake;
# 2. the data-plane tier (tests/dataplane) inside the data plane's own namespace
#    (hack/dataplane.sh): real kube-proxy, pods that are real processes, a gateway,
#    vegeta load. Where network namespaces are not allowed it says so in one line and
#    is not run; KPRISM_REQUIRE_DATAPLANE=1 (CI) makes that an error.
#
# Extra arguments go to pytest (both tiers). KPRISM_TIERS=cluster|dataplane runs one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
py="${VENV:-.venv}/bin/python"

cluster_tier() {
  if [ -n "${KPRISM_IN_NETNS:-}" ]; then
    echo "kprism: tests run in a loopback-only network namespace ($(ip -o link | awk -F': ' '{print $2}' | tr '\n' ' '))"
  else
    echo "kprism: no network namespace here (not root or no unshare); the pytest socket guard still applies"
  fi
  export KPRISM_CLUSTER_NAME=${KPRISM_CLUSTER_NAME:-kprism-test} KPRISM_APISERVER_PORT=${KPRISM_APISERVER_PORT:-36543}
  trap 'hack/cluster.sh down >/dev/null 2>&1 || true' EXIT
  kubeconfig=$(hack/cluster.sh up | tail -1)
  export KPRISM_TEST_KUBECONFIG="$kubeconfig"
  "$py" -m pytest tests --ignore=tests/dataplane "$@"
}

# `down` after a crash: SIGKILL the node runtime and kube-proxy (as if `up` or the
# machine had died), then `down` must stop every process its PID files name, the pods'
# processes included, and delete the namespace.
dataplane_down_after_crash() {
  local state="${KPRISM_CACHE:-.cache}/dataplane" pids=() f pid ino
  ino=$(stat -L -c %i "/run/netns/${KPRISM_NETNS:-kprism-dp}")
  for f in "$state"/*.pid "$state"/node/pods/*/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")  # only processes really in the namespace: PIDs are reused
    [ "$(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null)" = "$ino" ] && pids+=("$pid")
  done
  [ ${#pids[@]} -ge 3 ] || { echo "kprism: data plane: expected PID files, found ${#pids[@]}" >&2; return 1; }
  kill -KILL "$(cat "$state/noderuntime.pid")" "$(cat "$state/kube-proxy.pid")"
  hack/dataplane.sh down >/dev/null 2>&1
  local alive i
  for i in $(seq 1 50); do  # SIGKILL is asynchronous: give the kernel a moment
    alive=()
    for pid in "${pids[@]}"; do
      if [ -e "/proc/$pid" ] && ! grep -q '^[^)]*) Z' "/proc/$pid/stat" 2>/dev/null; then alive+=("$pid"); fi
    done
    [ ${#alive[@]} -eq 0 ] && break
    sleep 0.1
  done
  if [ ${#alive[@]} -gt 0 ]; then echo "kprism: data plane: pids ${alive[*]} survived 'down'" >&2; return 1; fi
  if ip netns list | grep -qw "^${KPRISM_NETNS:-kprism-dp}"; then echo "kprism: data plane: namespace survived 'down'" >&2; return 1; fi
  echo "kprism: data plane: 'down' after a crash stopped ${#pids[@]} processes and removed the namespace"
}

if [ "${1:-}" = --cluster-tier ]; then
  shift
  cluster_tier "$@"
  exit
fi

# The browser tier drives Debian's Chromium (downloaded browsers are refused here):
# install it where we can, before entering the loopback-only namespace.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "kprism: installing Debian's chromium for the browser tier (tests/browser)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } >/dev/null 2>&1 ||
    echo "kprism: could not install chromium with apt-get; the browser tier will say what is missing" >&2
fi

# The gateway router's tests need the Gateway API CRDs, which come from the Go module
# proxy: fetch them (cached in .cache/) before entering the loopback-only namespace.
if [ -z "${KPRISM_GATEWAY_CRDS:-}" ]; then
  KPRISM_GATEWAY_CRDS=$(hack/gateway-api-crds.sh) || KPRISM_GATEWAY_CRDS=""
  export KPRISM_GATEWAY_CRDS
fi

tiers=${KPRISM_TIERS:-cluster dataplane}
for tier in $tiers; do
  case $tier in
    cluster | dataplane) ;;
    *)
      echo "kprism: KPRISM_TIERS: unknown tier '$tier' (use cluster and/or dataplane, space-separated)" >&2
      exit 2
      ;;
  esac
done
rc=0
if [[ " $tiers " == *" cluster "* ]]; then
  if [ -z "${KPRISM_NO_NETNS:-}" ] && unshare --net true 2>/dev/null; then
    unshare --net env KPRISM_IN_NETNS=1 bash -c 'ip link set lo up && exec "$0" --cluster-tier "$@"' "$0" "$@" || rc=$?
  else
    "$0" --cluster-tier "$@" || rc=$?
  fi
fi

if [[ " $tiers " == *" dataplane "* ]]; then
  if reason=$(hack/dataplane.sh check 2>&1); then
    trap 'hack/dataplane.sh down >/dev/null 2>&1 || true' EXIT
    hack/dataplane.sh up >/dev/null
    hack/dataplane.sh exec -- "$py" -m pytest tests/dataplane "$@" || rc=$?
    dataplane_down_after_crash || rc=$?
  elif [ -n "${KPRISM_REQUIRE_DATAPLANE:-}" ]; then
    echo "$reason" >&2
    echo "kprism: KPRISM_REQUIRE_DATAPLANE is set: failing" >&2
    rc=1
  else
    echo "$reason; the data-plane tier (tests/dataplane) was not run" >&2
  fi
fi
exit $rc
