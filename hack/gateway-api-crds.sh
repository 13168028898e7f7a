#!/usr/bin/env bash
# Print the path of the Gateway API standard-channel CRDs as one YAML file.
#
#   hack/gateway-api-crds.sh          fetch (first time only), print the path
#
# The CRDs ship in the Go module sigs.k8s.io/gateway-api (config/crd/standard/), so
# they come from the Go module proxy like the rest of the local cluster, never from a
# release download. The concatenated file is cached in .cache/ (git-ignored) and reused
# offline; the YAML is never committed. Integration tests of the gateway router apply
# it (hack/test.sh exports the path as KPRISM_GATEWAY_CRDS before entering the
# loopback-only network namespace, where the proxy cannot be reached).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
version=${GATEWAY_API_VERSION:-v1.4.1}
cache="${KPRISM_CACHE:-$root/.cache}"
out="$cache/gateway-api-$version.yaml"

die() { echo "kprism: $*" >&2; exit 1; }
if [ -s "$out" ]; then echo "$out"; exit 0; fi
command -v go >/dev/null 2>&1 || die "Go is not installed: install Go >= 1.26 to fetch the Gateway API CRDs from the Go module proxy."

# Outside any module: GOFLAGS=-mod=mod keeps `go mod download` from looking for one.
json=$(cd / && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/gateway-api@$version") ||
  die "cannot download sigs.k8s.io/gateway-api@$version from the Go module proxy (GOPROXY=$(go env GOPROXY))"
dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
crds="$dir/config/crd/standard"
[ -d "$crds" ] || die "sigs.k8s.io/gateway-api@$version has no config/crd/standard/ (module dir: ${dir:-unknown})"

mkdir -p "$cache"
tmp="$out.tmp.$$"
: >"$tmp"
for f in "$crds"/*.yaml; do
  { echo "---"; cat "$f"; } >>"$tmp"
done
grep -q '^kind: CustomResourceDefinition' "$tmp" || { rm -f "$tmp"; die "no CRDs found in $crds"; }
mv "$tmp" "$out"
echo "$out"
