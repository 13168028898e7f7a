#!/usr/bin/env bash
# kprism's local Kubernetes cluster: real etcd + kube-apiserver + controller-manager +
# scheduler, with KWOK simulating nodes and pods. Built from the Go module proxy by
# hack/build-bins.sh and started by kwokctl's binary runtime (nothing is downloaded).
#
#   hack/cluster.sh up          build if needed, start (or reuse) the cluster; last line = kubeconfig path
#   hack/cluster.sh down        stop it and remove its state
#   hack/cluster.sh status      exit 0 if it answers, 1 otherwise
#   hack/cluster.sh kubeconfig  print the kubeconfig path
#
# Network safety: every listener binds 127.0.0.1, Service ClusterIPs come from
# 127.64.0.0/16, the node IP is 127.0.0.1 and simulated pod IPs come from 198.18.0.0/15
# (RFC 2544 benchmark range: nothing here ever dials it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
name=${KPRISM_CLUSTER_NAME:-kprism}
port=${KPRISM_APISERVER_PORT:-36443}
# The data plane (hack/dataplane.sh) runs a cluster whose Services kube-proxy can route
# (198.19.0.0/16 with a route inside its network namespace) next to a node whose pods
# are real processes (KPRISM_PROCESS_NODE=1: KWOK manages only its own annotated nodes,
# and they are tainted so that pods land on the process node unless they tolerate it).
service_cidr=${KPRISM_SERVICE_CIDR:-127.64.0.0/16}
pod_cidr=${KPRISM_POD_CIDR:-198.18.0.0/15}
process_node=${KPRISM_PROCESS_NODE:-}
state="${KPRISM_CACHE:-$root/.cache}/cluster-$name"
kubeconfig="$state/kubeconfig"
# kwokctl reads KWOK_* variables over its config file: keep them out of its way.
for v in $(env | grep -o '^KWOK_[A-Z_]*' || true); do unset "$v"; done
export KWOK_WORKDIR="$state/kwok"

die() { echo "kprism: $*" >&2; exit 1; }
log() { echo "kprism: $*" >&2; }

kubectl_() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

alive() {
  [ -f "$kubeconfig" ] && [ -x "${bin:-/nonexistent}/kubectl" ] &&
    kubectl_ --request-timeout=3s get --raw /readyz >/dev/null 2>&1 && components_alive
}

# Every component kwokctl started still runs (a controller-manager that exited leaves
# an API server that answers while nothing reconciles).
components_alive() {
  local f pid
  for f in "$state"/kwok/clusters/"$name"/pids/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -e "/proc/$pid" ] || return 1
  done
}

write_config() {
  mkdir -p "$state"
  cat >"$state/kwok.yaml" <<YAML
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  bindAddress: 127.0.0.1
  kubeApiserverPort: $port
  kubeVersion: v$KUBE_VERSION
  etcdVersion: $ETCD_VERSION
  kwokVersion: v$KWOK_VERSION
  kubeApiserverBinary: $bin/kube-apiserver
  kubeControllerManagerBinary: $bin/kube-controller-manager
  kubeSchedulerBinary: $bin/kube-scheduler
  kubectlBinary: $bin/kubectl
  etcdBinary: $bin/etcd
  kwokControllerBinary: $bin/kwok
  kubeAuthorization: true
  kubeAdmission: true
  disableQPSLimits: true
  nodeLeaseDurationSeconds: 40
componentsPatches:
- name: kube-apiserver
  extraArgs:
  - key: advertise-address
    value: 127.0.0.1
  - key: service-cluster-ip-range
    value: $service_cidr
  - key: endpoint-reconciler-type
    value: none
- name: kwok-controller
  extraArgs:
  - key: node-ip
    value: 127.0.0.1
    override: true
$(if [ -n "$process_node" ]; then cat <<KWOK
  - key: manage-all-nodes
    value: "false"
    override: true
  - key: manage-nodes-with-annotation-selector
    value: kwok.x-k8s.io/node=fake
KWOK
fi)
- name: kube-controller-manager
  extraArgs:
  - key: service-cluster-ip-range
    value: $service_cidr
  # one instance, nothing to elect: under load a slow Lease renewal made it exit for good
  - key: leader-elect
    value: "false"
- name: kube-scheduler
  extraArgs:
  - key: leader-elect
    value: "false"
---
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  cidr: $pod_cidr
  nodeIP: 127.0.0.1
  nodePort: 10247
  podPlayStageParallelism: 8
  nodePlayStageParallelism: 2
  nodeLeaseParallelism: 2
  podsOnNodeSyncParallelism: 2
  enablePodsOnNodeSyncListPager: true
  enablePodsOnNodeSyncStreamWatch: false
  enableDebuggingHandlers: false
  enableProfilingHandler: false
  enableContentionProfiling: false
---
YAML
  cat "$here/cluster/stages.yaml" >>"$state/kwok.yaml"
}

create_nodes() {
  local n
  for n in 0 1 2; do
    cat <<YAML
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$n
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: kwok-node-$n
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
spec:
$(if [ -n "$process_node" ]; then printf '  taints:\n  - key: kprism.dev/simulated\n    value: "true"\n    effect: NoSchedule\n'; else echo '  {}'; fi)
YAML
  done | kubectl_ apply -f - >/dev/null
  kubectl_ wait --for=condition=Ready node --all --timeout=60s >/dev/null
}

# A cluster whose components died (the API server was killed, the machine slept) keeps
# its etcd data: stop what is left of it and start every component again on that data,
# instead of wiping the cluster. Only if that fails is the cluster created anew.
restart() {
  log "cluster '$name' is not answering: restarting its components on the kept etcd data"
  "$bin/kwokctl" --name "$name" stop cluster >"$state/restart.log" 2>&1 || true
  start_again || return 1
  # KWOK holds a Lease per node; a restarted KWOK does not take over the Leases of the
  # one that died and then simulates nothing (pods stay Pending). Drop them and start
  # once more, so the new KWOK takes the nodes.
  kubectl_ -n kube-node-lease delete lease --all >>"$state/restart.log" 2>&1 || true
  "$bin/kwokctl" --name "$name" stop cluster >>"$state/restart.log" 2>&1 || true
  start_again || return 1
  log "cluster '$name' restarted with its objects"
}

start_again() {
  if ! "$bin/kwokctl" --name "$name" start cluster >>"$state/restart.log" 2>&1; then
    log "restart failed (log: $state/restart.log)"
    return 1
  fi
  local i
  for i in $(seq 1 300); do
    alive && return 0
    sleep 0.2
  done
  log "cluster '$name' did not answer after a restart (log: $state/restart.log)"
  return 1
}

up() {
  bin=$("$here/build-bins.sh")
  if alive; then
    log "cluster '$name' is already running"
    echo "$kubeconfig"
    return 0
  fi
  if [ -f "$kubeconfig" ] && [ -d "$state/kwok" ] && restart; then
    echo "$kubeconfig"
    return 0
  fi
  if [ -d "$state/kwok" ]; then
    log "removing stale state of cluster '$name'"
    "$bin/kwokctl" --name "$name" delete cluster >/dev/null 2>&1 || true
  fi
  rm -rf "$state"
  write_config
  log "starting cluster '$name' (kube $KUBE_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION) on 127.0.0.1:$port"
  local start=$SECONDS
  if ! "$bin/kwokctl" --name "$name" -c "$state/kwok.yaml" create cluster \
      --kubeconfig "$kubeconfig" --wait 120s >"$state/create.log" 2>&1; then
    tail -20 "$state/create.log" >&2
    die "kwokctl could not start the cluster (log: $state/create.log)"
  fi
  create_nodes
  local i
  for i in $(seq 1 300); do  # pods need the default ServiceAccount of their namespace
    kubectl_ -n default get serviceaccount default >/dev/null 2>&1 && break
    sleep 0.2
  done
  log "cluster '$name' ready in $((SECONDS - start))s"
  echo "$kubeconfig"
}

down() {
  bin="${KPRISM_CACHE:-$root/.cache}/bin/current"
  if [ -x "$bin/kwokctl" ] && [ -d "$state/kwok" ]; then
    "$bin/kwokctl" --name "$name" delete cluster >/dev/null 2>&1 || true
  fi
  rm -rf "$state"
  log "cluster '$name' removed"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  status) bin="${KPRISM_CACHE:-$root/.cache}/bin/current"; alive ;;
  kubeconfig) echo "$kubeconfig" ;;
  *) die "usage: hack/cluster.sh up|down|status|kubeconfig" ;;
esac
