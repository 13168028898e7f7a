#!/usr/bin/env bash
# Build the local control plane from the Go module proxy (no release downloads).
#
#   hack/build-bins.sh            build what is missing, print the bin dir
#   hack/build-bins.sh dataplane  also kube-proxy, vegeta and Traefik (hack/dataplane.sh)
#   hack/build-bins.sh helm       also helm (tests/integration/test_install.py renders the chart)
#
# Binaries are cached per version in .cache/bin/<piece>-<version>/ (git-ignored).
# Each piece is built into a temporary directory and renamed into place only
# when every binary of it built, so a half-built cache is never used.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache="${KPRISM_CACHE:-$root/.cache}/bin"
mkdir -p "$cache"

die() { echo "kprism: $*" >&2; exit 1; }
command -v go >/dev/null 2>&1 || die "Go is not installed: install Go >= 1.26 (e.g. 'apt-get install golang' or your distro's Go) and re-run 'make cluster'."
# The modules under hack/ say `go 1.26`: a Go >= 1.21 fetches that toolchain from the Go
# module proxy by itself (Debian's go.env says GOTOOLCHAIN=local: allow it here). Older
# Go (Debian bookworm's 1.19) cannot, and cannot build Kubernetes 1.36: say so.
gov=$(go env GOVERSION 2>/dev/null || true)
if [[ $gov =~ ^go1\.([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -lt 21 ]; then
  die "Go ${gov#go} is too old to build Kubernetes $KUBE_VERSION: install Go >= 1.21 (it fetches the Go 1.26 toolchain from the module proxy itself) and re-run 'make cluster'."
fi
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
unset KWOK_KUBE_VERSION KWOK_RUNTIME 2>/dev/null || true

log() { echo "kprism: $*" >&2; }

build_piece() { # name version dir-with-go.mod build-fn
  local name=$1 version=$2 out="$cache/$1-$2"
  if [ -f "$out/.complete" ]; then return 0; fi
  local tmp="$cache/.$name-$version.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  log "building $name $version (first time only; Kubernetes and Traefik take 10-25 min each on 2 cores)"
  local start=$SECONDS
  if ! "$3" "$tmp" "$version" >"$tmp.log" 2>&1; then
    tail -20 "$tmp.log" >&2
    rm -rf "$tmp"
    die "building $name $version failed (log above; full log $tmp.log). Check that the Go module proxy is reachable (GOPROXY=$(go env GOPROXY))."
  fi
  rm -f "$tmp.log"
  touch "$tmp/.complete"
  rm -rf "$out"; mv "$tmp" "$out"
  log "built $name $version in $((SECONDS - start))s"
}

build_kube() {
  local dst=$1 v=$2 pkg=k8s.io/kubernetes
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=v$v -X $p.gitMajor=${v%%.*} -X $p.gitMinor=$(echo "$v" | cut -d. -f2) -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  cd "$here/kubebin"
  go build -trimpath -ldflags "$ld" -o "$dst/" \
    $pkg/cmd/kube-apiserver $pkg/cmd/kube-controller-manager $pkg/cmd/kube-scheduler $pkg/cmd/kubectl
}

build_etcd() {
  cd "$here/etcdbin"
  go build -trimpath -ldflags "-s -w" -o "$1/etcd" .
}

build_kube_proxy() {
  local dst=$1 v=$2 p=k8s.io/component-base/version
  cd "$here/kubebin"
  go build -trimpath -ldflags "-s -w -X $p.gitVersion=v$v -X $p.gitMajor=${v%%.*} -X $p.gitMinor=$(echo "$v" | cut -d. -f2)" \
    -o "$dst/" k8s.io/kubernetes/cmd/kube-proxy
}

build_vegeta() {
  GOBIN=$1 go install -trimpath -ldflags "-s -w" "github.com/tsenart/vegeta/v12@v$2"
}

build_traefik() {
  "$here/traefikbin/build.sh" "$1" "$2"
}

build_helm() {
  GOBIN=$1 go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$2" "helm.sh/helm/v3/cmd/helm@v$2"
}

build_kwok() {
  GOBIN=$1 go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$2" "sigs.k8s.io/kwok/cmd/kwokctl@v$2"
}

build_piece etcd "$ETCD_VERSION" build_etcd
build_piece kwok "$KWOK_VERSION" build_kwok
build_piece kube "$KUBE_VERSION" build_kube
pieces=("$cache/kube-$KUBE_VERSION"/* "$cache/etcd-$ETCD_VERSION/etcd" "$cache/kwok-$KWOK_VERSION"/*)
if [[ " $* " == *" helm "* ]]; then
  build_piece helm "$HELM_VERSION" build_helm
  pieces+=("$cache/helm-$HELM_VERSION/helm")
fi
if [[ " $* " == *" dataplane "* ]]; then
  build_piece kube-proxy "$KUBE_VERSION" build_kube_proxy
  build_piece vegeta "$VEGETA_VERSION" build_vegeta
  build_piece traefik "$TRAEFIK_VERSION" build_traefik
  pieces+=("$cache/kube-proxy-$KUBE_VERSION/kube-proxy" "$cache/vegeta-$VEGETA_VERSION/vegeta"
           "$cache/traefik-$TRAEFIK_VERSION/traefik")
fi

# One stable directory of symlinks so callers need not know versions.
bin="$cache/current"
mkdir -p "$bin"
for f in "${pieces[@]}"; do
  ln -sfn "$f" "$bin/$(basename "$f")"
done
echo "$bin"
