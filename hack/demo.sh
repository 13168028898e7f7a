#!/usr/bin/env bash
# The main job, end to end: take the seed's manifests as written, doctor them (and let
# doctor fix what it can on the live app), adopt them, release v2 blue-green with a
# preview and a verified cutover, then roll back.
#
# Where network namespaces are allowed (root) it runs on the data plane
# (hack/dataplane.sh): the seed's pods are real processes behind real kube-proxy, and a
# live line per second shows requests, failures and the share of each version while
# kprism releases. Elsewhere it runs on the simulated cluster (hack/cluster.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

if [ -z "${KPRISM_DEMO_INNER:-}" ]; then
  if reason=$(hack/dataplane.sh check 2>&1); then
    hack/dataplane.sh up >/dev/null
    exec hack/dataplane.sh exec -- env KPRISM_DEMO_INNER=dataplane "$0"
  fi
  echo "$reason; the demo runs on the simulated cluster, without live traffic" >&2
  KUBECONFIG=$(hack/cluster.sh up | tail -1)
  export KUBECONFIG KPRISM_DEMO_INNER=simulated PATH="${KPRISM_CACHE:-$root/.cache}/bin/current:$PATH"
fi

kprism="${VENV:-.venv}/bin/kprism"
py="${VENV:-.venv}/bin/python"
ns=kprism-demo
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }
live_pid=""
stop_live() { [ -z "$live_pid" ] || { kill "$live_pid" 2>/dev/null || true; wait "$live_pid" 2>/dev/null || true; live_pid=""; }; }
trap stop_live EXIT

kubectl delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
kubectl create namespace "$ns" >/dev/null
run kubectl -n "$ns" apply -f examples/seed/
kubectl -n "$ns" rollout status deploy/py-hello-blue --timeout=60s >/dev/null
run "$kprism" -n "$ns" doctor py-hello-service || true
# what doctor can fix, it fixes: one JSON patch, then the Deployment's own rolling update
run "$kprism" -n "$ns" doctor py-hello-service --fix || true
kubectl -n "$ns" rollout status deploy/py-hello-blue --timeout=120s >/dev/null
run "$kprism" -n "$ns" adopt py-hello-service
if [ "$KPRISM_DEMO_INNER" = dataplane ]; then
  ip=$(kubectl -n "$ns" get service py-hello-service -o jsonpath='{.spec.clusterIP}')
  say "live traffic: 50 req/s to http://$ip:8888 through kube-proxy, a new connection each (one line per second)"
  "$py" -m testkit.live "http://$ip:8888/" --rate 50 &
  live_pid=$!
  sleep 3
fi
run "$kprism" -n "$ns" status py-hello-service
run "$kprism" -n "$ns" plan py-hello-service --image hello=localhost:5001/py-http:2 --preview --auto-promote --scale-down-delay 5
run "$kprism" -n "$ns" release py-hello-service --image hello=localhost:5001/py-http:2 --preview --auto-promote --scale-down-delay 5
sleep 3
run "$kprism" -n "$ns" status py-hello-service
run "$kprism" -n "$ns" rollback py-hello-service --scale-down-delay 5
sleep 3
stop_live
run "$kprism" -n "$ns" history py-hello-service
if [ "$KPRISM_DEMO_INNER" = dataplane ]; then
  printf '\nThe data plane keeps running: `hack/dataplane.sh exec -- kubectl -n %s get pods -o wide`; `make dataplane-down` removes it.\n' "$ns"
else
  printf '\nThe cluster keeps running (KUBECONFIG=%s); `make cluster-down` removes it.\n' "$KUBECONFIG"
fi
