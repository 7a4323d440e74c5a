#!/usr/bin/env bash
# Builds the envtest binaries (kube-apiserver, kubectl, etcd) from the Go module
# proxy, because release downloads are not reachable here. Each binary set is
# cached outside the repository, keyed by version, and built only when missing.
# The last line printed is the absolute directory to use as KUBEBUILDER_ASSETS.
set -euo pipefail

K8S_VERSION="${ENVTEST_K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${ENVTEST_ETCD_VERSION:-v3.7.0}"
CACHE_ROOT="${ENVTEST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/maintenance-switch/envtest}"
# Bump RECIPE when the way the binaries are built changes, so stale caches are not reused.
RECIPE=2
OUT="$CACHE_ROOT/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}-r${RECIPE}"

if [[ -x "$OUT/kube-apiserver" && -x "$OUT/kubectl" && -x "$OUT/etcd" ]]; then
  echo "$OUT"
  exit 0
fi

command -v go >/dev/null || { echo "build-assets: the Go toolchain is required (go not on PATH)" >&2; exit 1; }
# shellcheck source=../lib/build-k8s.sh
source "$(dirname "$0")/../lib/build-k8s.sh"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$OUT" "$work/etcd"
started=$(date +%s)

echo "build-assets: kubernetes $K8S_VERSION, etcd $ETCD_VERSION -> $OUT" >&2

# kube-apiserver and kubectl, through the shared wrapper-module recipe.
build_k8s_commands "$K8S_VERSION" "$OUT" kube-apiserver kubectl

# etcd lives in its own module so its dependency versions never fight Kubernetes'.
(
  cd "$work/etcd"
  go mod init envtest-etcd >/dev/null 2>&1
  cat > main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
  go mod tidy >&2
  CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-$ETCD_VERSION" -o "$OUT/etcd" . >&2
)

echo "build-assets: built in $(( $(date +%s) - started )) s" >&2
echo "$OUT"
