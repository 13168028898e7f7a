#!/usr/bin/env bash
# Benchmark the local cluster: warm start time (binaries cached) and steady memory.
#   bench/cluster.sh [runs]      (cold build time: `rm -rf .cache/bin && time hack/build-bins.sh`)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
export KPRISM_CLUSTER_NAME=kprism-bench KPRISM_APISERVER_PORT=36643
hack/build-bins.sh >/dev/null
for i in $(seq 1 "$runs"); do
  hack/cluster.sh down >/dev/null 2>&1 || true
  start=$(date +%s.%N)
  hack/cluster.sh up >/dev/null 2>&1
  end=$(date +%s.%N)
  printf 'warm start %d: %.1fs\n' "$i" "$(echo "$end - $start" | bc)"
done
sleep 5
ps -eo rss,args | grep "cluster-kprism-bench" | grep -v grep |
  awk '{n=$2; sub(".*/","",n); printf "%-26s %6.0f MiB\n", n, $1/1024; s+=$1} END {printf "%-26s %6.0f MiB\n", "total", s/1024}'
hack/cluster.sh down >/dev/null
