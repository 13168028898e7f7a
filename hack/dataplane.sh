#!/usr/bin/env bash
# kprism's data plane: a local cluster with real traffic, in a network namespace of its own.
#
#   hack/dataplane.sh up            build what is missing, start (or reuse) everything;
#                                   last line = kubeconfig path
#   hack/dataplane.sh down          stop every process it started (by PID file, and only
#                                   while that PID still runs in its namespace) and
#                                   delete the namespace
#   hack/dataplane.sh exec -- CMD   run CMD inside the namespace with KUBECONFIG set and
#                                   kubectl, kprism (the venv) and vegeta on PATH
#   hack/dataplane.sh kubeconfig    print the kubeconfig path
#   hack/dataplane.sh check         exit 0 if this machine can run it (root, netns, nft)
#   hack/dataplane.sh status        exit 0 if it is up and every piece answers
#
# Inside the namespace `kprism-dp` (created here, with no interface to the outside: only
# `lo` and a veth pair whose both ends stay inside):
#   - a cluster like hack/cluster.sh's, named kprism-dp, API server on 127.0.0.1:36643,
#     Service ClusterIPs from 198.19.0.0/16 (routed to the veth so connect() reaches the
#     DNAT hook), KWOK pod IPs from 198.18.0.0/17;
#   - kube-proxy (nftables mode; KPRISM_PROXY_MODE=iptables for the other), built from the
#     same k8s.io/kubernetes module as the control plane;
#   - the process node kprism-proc-0 (testkit/noderuntime.py): its pods are real
#     processes with IPs from 198.18.128.0/17 on `lo`;
#   - Traefik (hack/traefikbin, built from the Go module proxy) implementing the Gateway
#     `kprism-gateway/kprism` on 127.0.0.1:8000 for HTTPRoutes in every namespace
#     (its default 2 s provider throttle kept: KPRISM_GATEWAY_THROTTLE changes it);
#   - Prometheus (Debian's, testkit/prometheus.py) on 127.0.0.1:9090 scraping the process
#     node's pods; `exec` sets PROMETHEUS_URL (the analysis tests start their own).
# Pod and Service IPs (198.18.0.0/15, RFC 2544) are reachable only inside the namespace;
# outside it nothing new listens at all.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
netns=${KPRISM_NETNS:-kprism-dp}
name=kprism-dp
port=${KPRISM_DP_APISERVER_PORT:-36643}
cache="${KPRISM_CACHE:-$root/.cache}"
state="$cache/dataplane"
kubeconfig="$cache/cluster-$name/kubeconfig"
node=kprism-proc-0
proxy_mode=${KPRISM_PROXY_MODE:-nftables}
venv="${VENV:-$root/.venv}"
[[ $venv = /* ]] || venv="$root/$venv"

die() { echo "kprism: $*" >&2; exit 1; }
log() { echo "kprism: $*" >&2; }
in_ns() { ip netns exec "$netns" "$@"; }

check() {
  [ "$(id -u)" = 0 ] || { echo "kprism: the data plane needs root (network namespaces, nftables)" >&2; return 3; }
  command -v ip >/dev/null || { echo "kprism: the data plane needs iproute2 ('apt-get install iproute2')" >&2; return 3; }
  if ! ip netns list >/dev/null 2>&1 || ! unshare --net true 2>/dev/null; then
    echo "kprism: network namespaces are not allowed on this machine: the data plane cannot run here" >&2
    return 3
  fi
}

install_packages() {
  local need=()
  command -v nft >/dev/null || need+=(nftables)
  command -v iptables >/dev/null || need+=(iptables)
  command -v conntrack >/dev/null || need+=(conntrack)
  command -v prometheus >/dev/null || need+=(prometheus)  # analysis tests (testkit/prometheus.py)
  if [ ${#need[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "the data plane needs ${need[*]}: install them first"
    log "installing ${need[*]} (kube-proxy needs the first three, the analysis tests Prometheus)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"; } >/dev/null 2>&1 ||
      die "could not install ${need[*]} with apt-get"
  fi
}

make_netns() {
  if ! ip netns list | grep -qw "^$netns"; then
    ip netns add "$netns"
  fi
  # `ip netns exec` bind-mounts /etc/netns/NAME/* over /etc: name lookups inside the
  # namespace go to loopback (nothing answers), never to the machine's resolver.
  mkdir -p "/etc/netns/$netns"
  echo "nameserver 127.0.0.1" >"/etc/netns/$netns/resolv.conf"
  in_ns ip link set lo up
  if ! in_ns ip link show kpdp0 >/dev/null 2>&1; then
    in_ns ip link add kpdp0 type veth peer name kpdp1
    in_ns ip addr add 198.18.255.254/32 dev kpdp0
  fi
  in_ns ip link set kpdp0 up
  in_ns ip link set kpdp1 up
  in_ns ip route replace 198.19.0.0/16 dev kpdp0 src 198.18.255.254
  # Nothing but our own interfaces, no default route: nothing can leave.
  local links
  links=$(in_ns ip -o link | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' ')
  [ "$links" = "kpdp0 kpdp1 lo " ] || die "namespace $netns has unexpected interfaces: $links"
  if in_ns ip route show default | grep -q .; then die "namespace $netns has a default route"; fi
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_bg() { # name pidfile logfile cmd...
  local what=$1 pidfile=$2 logfile=$3; shift 3
  if pid_alive "$pidfile"; then return 0; fi
  rm -f "$pidfile"
  # The process writes its own PID (after setsid) and then execs the command, so the PID
  # file names the daemon itself, never a wrapper.
  nohup ip netns exec "$netns" setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
    >"$logfile" 2>&1 </dev/null &
  local i
  for i in $(seq 1 50); do [ -s "$pidfile" ] && break; sleep 0.1; done
  pid_alive "$pidfile" || die "$what did not start (log: $logfile)"
  log "started $what (pid $(cat "$pidfile"), log $logfile)"
}

kubectl_() { in_ns "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

wait_for() { # seconds description command...
  local secs=$1 what=$2 i; shift 2
  for i in $(seq 1 $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  die "timed out after ${secs}s waiting for $what"
}

up() {
  check || exit 3
  install_packages
  bin=$("$here/build-bins.sh" dataplane)
  "$venv/bin/python" -c 'import lightkube' 2>/dev/null || die "the venv is missing: run 'make venv' first"
  mkdir -p "$state"
  make_netns
  in_ns env KPRISM_CLUSTER_NAME=$name KPRISM_APISERVER_PORT="$port" \
    KPRISM_SERVICE_CIDR=198.19.0.0/16 KPRISM_POD_CIDR=198.18.0.0/17 KPRISM_PROCESS_NODE=1 \
    "$here/cluster.sh" up >/dev/null
  start_bg "node runtime ($node)" "$state/noderuntime.pid" "$state/noderuntime.log" \
    "$venv/bin/python" "$root/testkit/noderuntime.py" --kubeconfig "$kubeconfig" --node "$node" --state "$state/node"
  wait_for 60 "node $node to be Ready" kubectl_ wait --for=condition=Ready "node/$node" --timeout=1s
  start_bg "kube-proxy ($proxy_mode)" "$state/kube-proxy.pid" "$state/kube-proxy.log" \
    "$bin/kube-proxy" --kubeconfig "$kubeconfig" --proxy-mode="$proxy_mode" \
    --hostname-override="$node" --cluster-cidr=198.18.0.0/15 --bind-address=127.0.0.1 \
    --healthz-bind-address=127.0.0.1:10256 --metrics-bind-address=127.0.0.1:10249 \
    --conntrack-max-per-core=0 --iptables-min-sync-period="${KPRISM_PROXY_MIN_SYNC:-1s}"
  wait_for 60 "kube-proxy to be healthy" in_ns "$venv/bin/python" -c \
    'import urllib.request,sys; urllib.request.urlopen("http://127.0.0.1:10256/healthz", timeout=1)'
  if [ -x "$bin/traefik" ]; then
    start_gateway
  fi
  start_prometheus
  log "data plane up: namespace $netns, cluster $name, kube-proxy $proxy_mode, node $node"
  echo "$kubeconfig"
}

start_gateway() {
  local crds
  crds=$(cd "$root" && GATEWAY_API_VERSION="${TRAEFIK_GATEWAY_API_VERSION:-v1.4.1}" "$here/gateway-api-crds.sh")
  kubectl_ apply --server-side -f "$crds" >/dev/null
  kubectl_ apply -f "$here/dataplane/gateway.yaml" >/dev/null
  start_bg "Traefik (Gateway API)" "$state/traefik.pid" "$state/traefik.log" \
    env KUBECONFIG="$kubeconfig" "$bin/traefik" \
    --entryPoints.web.address=127.0.0.1:8000 \
    --entryPoints.traefik.address=127.0.0.1:8080 \
    --ping=true --ping.entryPoint=traefik \
    --global.checkNewVersion=false --global.sendAnonymousUsage=false \
    --providers.kubernetesgateway=true \
    --providers.providersthrottleduration="${KPRISM_GATEWAY_THROTTLE:-2s}" \
    --log.level=INFO
  wait_for 60 "Traefik to answer /ping" in_ns "$venv/bin/python" -c \
    'import urllib.request; urllib.request.urlopen("http://127.0.0.1:8080/ping", timeout=1)'
}

start_prometheus() { # optional: the data plane works without it
  command -v prometheus >/dev/null || { log "no prometheus installed: PROMETHEUS_URL stays unset"; return 0; }
  start_bg "Prometheus (analysis, 127.0.0.1:9090)" "$state/prometheus.pid" "$state/prometheus.log" \
    env PYTHONPATH="$root" PROMETHEUS_PORT=9090 KPRISM_PROMETHEUS_DIR="$state/prometheus" \
    KPRISM_DATAPLANE_KUBECONFIG="$kubeconfig" \
    "$venv/bin/python" -m testkit.prometheus
  local i
  for i in $(seq 1 150); do
    in_ns "$venv/bin/python" -c 'import urllib.request; urllib.request.urlopen("http://127.0.0.1:9090/-/ready", timeout=1)' \
      >/dev/null 2>&1 && return 0
    pid_alive "$state/prometheus.pid" || break
    sleep 0.2
  done
  log "Prometheus did not become ready (log: $state/prometheus.log): PROMETHEUS_URL stays unset"
}

down() {
  local f pid ns_ino=""
  # Kill only what is ours: a PID from a PID file counts only while that process still
  # runs in our network namespace (PIDs are reused: a stale PID file must never name
  # someone else's process).
  ns_ino=$(stat -L -c %i "/run/netns/$netns" 2>/dev/null || true)
  ours() {
    [ -n "$ns_ino" ] && [ "$(stat -L -c %i "/proc/$1/ns/net" 2>/dev/null)" = "$ns_ino" ]
  }
  # Our daemons first (the node runtime stops its pods on SIGTERM), then what is left.
  for f in "$state"/prometheus.pid "$state"/traefik.pid "$state"/kube-proxy.pid "$state"/noderuntime.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if ours "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  sleep 0.3
  for f in "$state"/node/pods/*/*.pid "$state"/prometheus.pid "$state"/traefik.pid "$state"/kube-proxy.pid "$state"/noderuntime.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if ours "$pid"; then
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
  if ip netns list 2>/dev/null | grep -qw "^$netns"; then
    in_ns env KPRISM_CLUSTER_NAME=$name KPRISM_APISERVER_PORT="$port" "$here/cluster.sh" down >/dev/null 2>&1 || true
    ip netns del "$netns"
    rm -rf "/etc/netns/$netns"
  else
    KPRISM_CLUSTER_NAME=$name "$here/cluster.sh" down >/dev/null 2>&1 || true
  fi
  rm -rf "$state"
  log "data plane removed"
}

status() {
  ip netns list 2>/dev/null | grep -qw "^$netns" || return 1
  pid_alive "$state/noderuntime.pid" && pid_alive "$state/kube-proxy.pid" || return 1
  bin="$cache/bin/current"
  kubectl_ --request-timeout=3s get --raw /readyz >/dev/null 2>&1
}

exec_in() {
  [ "${1:-}" = "--" ] && shift
  [ $# -gt 0 ] || die "usage: hack/dataplane.sh exec -- CMD [ARGS...]"
  ip netns list 2>/dev/null | grep -qw "^$netns" || die "the data plane is not up: run 'hack/dataplane.sh up' first"
  local prom=()
  pid_alive "$state/prometheus.pid" && prom=(PROMETHEUS_URL=http://127.0.0.1:9090)
  exec ip netns exec "$netns" env KUBECONFIG="$kubeconfig" KPRISM_DATAPLANE_NETNS="$netns" "${prom[@]}" \
    KPRISM_DATAPLANE_KUBECONFIG="$kubeconfig" \
    PATH="$cache/bin/current:$venv/bin:$PATH" "$@"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  exec) shift; exec_in "$@" ;;
  kubeconfig) echo "$kubeconfig" ;;
  check) check ;;
  status) status ;;
  *) die "usage: hack/dataplane.sh up|down|exec -- CMD...|kubeconfig|check|status" ;;
esac
