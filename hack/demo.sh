#!/usr/bin/env bash
# The main job, end to end, on the local cluster: take the seed's manifests as written,
# adopt them, release v2 blue-green with a preview and a verified cutover, then roll back.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
kubeconfig=$(hack/cluster.sh up | tail -1)
export KUBECONFIG="$kubeconfig"
bin="${KPRISM_CACHE:-$root/.cache}/bin/current"
kprism="${VENV:-.venv}/bin/kprism"
ns=kprism-demo
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }

"$bin/kubectl" delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
"$bin/kubectl" create namespace "$ns" >/dev/null
run "$bin/kubectl" -n "$ns" apply -f examples/seed/
"$bin/kubectl" -n "$ns" rollout status deploy/py-hello-blue --timeout=60s >/dev/null
run "$kprism" -n "$ns" doctor py-hello-service || true
run "$kprism" -n "$ns" adopt py-hello-service
run "$kprism" -n "$ns" status py-hello-service
run "$kprism" -n "$ns" plan py-hello-service --image hello=localhost:5001/py-http:2 --preview --auto-promote --scale-down-delay 5
run "$kprism" -n "$ns" release py-hello-service --image hello=localhost:5001/py-http:2 --preview --auto-promote --scale-down-delay 5
run "$kprism" -n "$ns" status py-hello-service
run "$kprism" -n "$ns" rollback py-hello-service --scale-down-delay 5
run "$kprism" -n "$ns" history py-hello-service
printf '\nThe cluster keeps running (KUBECONFIG=%s); `make cluster-down` removes it.\n' "$kubeconfig"
