#!/usr/bin/env bash
# Build Traefik (Gateway API implementation) from the Go module proxy alone.
#
#   hack/traefikbin/build.sh OUTDIR VERSION     e.g. build.sh .cache/bin/traefik-3.6.15 3.6.15
#
# Writes OUTDIR/traefik. VERSION must be the github.com/traefik/traefik/v3 version this
# wrapper module requires (go.mod); the wrapper carries Traefik's own replace directives
# (to other served module versions, never to local source) and a complete go.sum, so the
# build is verified against go.sum and works from a cold module cache. See README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 2 ] || { echo "usage: $0 OUTDIR VERSION" >&2; exit 2; }
out=$1 v=${2#v}

pinned=$(sed -n 's|^require github.com/traefik/traefik/v3 v\(.*\)$|\1|p' "$here/go.mod")
if [ "$pinned" != "$v" ]; then
  echo "kprism: traefikbin pins Traefik v$pinned, not v$v; change go.mod (see README.md) or the version asked for" >&2
  exit 1
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
pkg=github.com/traefik/traefik/v3/pkg/version
ld="-s -w -X $pkg.Version=$v -X $pkg.Codename=ramequin -X $pkg.BuildDate=1970-01-01T00:00:00Z"
cd "$here"
CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=readonly" \
  go build -trimpath -ldflags "$ld" -o "$out/traefik" github.com/traefik/traefik/v3/cmd/traefik
