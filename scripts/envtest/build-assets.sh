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

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$OUT" "$work/kube" "$work/etcd"
staging_version="v0.${K8S_VERSION#v1.}"
started=$(date +%s)

echo "build-assets: kubernetes $K8S_VERSION (staging $staging_version), etcd $ETCD_VERSION -> $OUT" >&2

# kube-apiserver and kubectl: k8s.io/kubernetes replaces its staging modules with
# local paths, so `go install` refuses it. Replace each with its published tag.
(
  cd "$work/kube"
  go mod init envtest-kube >/dev/null 2>&1
  go mod edit -require="k8s.io/kubernetes@$K8S_VERSION"
  go mod download "k8s.io/kubernetes@$K8S_VERSION"
  kube_mod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  go_line="$(grep -m1 '^go ' "$kube_mod")"
  go mod edit -go="${go_line#go }"
  grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$kube_mod" | awk '{print $1}' | while read -r mod; do
    go mod edit -replace="$mod=$mod@$staging_version"
  done
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  go mod tidy >&2
  # Stamp the real version, as the release build does; otherwise the binaries say v0.0.0-master.
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  stamp=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    stamp+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  CGO_ENABLED=0 go build -trimpath -ldflags="-s -w$stamp" -o "$OUT/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
  CGO_ENABLED=0 go build -trimpath -ldflags="-s -w$stamp" -o "$OUT/kubectl" k8s.io/kubernetes/cmd/kubectl >&2
)

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
