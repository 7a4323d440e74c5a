#!/usr/bin/env bash
# Builds metrics-server (sigs.k8s.io/metrics-server) from the Go module proxy, cached outside
# the repository, keyed by version and recipe: the node's HPA controller reads pod CPU from it.
# Prints the binary's path last.
set -euo pipefail

VERSION="${METRICS_SERVER_VERSION:-v0.8.0}"
CACHE_ROOT="${CLUSTER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/maintenance-switch/cluster}"
RECIPE=1
OUT="$CACHE_ROOT/metrics-server-${VERSION}-r${RECIPE}"
if [[ -x "$OUT/metrics-server" ]]; then
  echo "$OUT/metrics-server"
  exit 0
fi

command -v go >/dev/null || { echo "build-metrics-server: the Go toolchain is required (go not on PATH)" >&2; exit 1; }
started=$(date +%s)
echo "metrics-server $VERSION -> $OUT" >&2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(
  cd "$work"
  go mod init build-metrics-server >/dev/null 2>&1
  go get -tool "sigs.k8s.io/metrics-server/cmd/metrics-server@$VERSION" >&2
  CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$OUT.tmp/metrics-server" sigs.k8s.io/metrics-server/cmd/metrics-server >&2
)
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
echo "metrics-server: built in $(( $(date +%s) - started )) s" >&2
echo "$OUT/metrics-server"
