#!/usr/bin/env bash
# Builds the node's binaries (kubelet, kube-controller-manager, kube-scheduler, kube-proxy)
# from the Go module proxy with the same recipe as the envtest binaries, cached outside the
# repository, keyed by version and recipe. Prints the directory last.
set -euo pipefail

K8S_VERSION="${CLUSTER_K8S_VERSION:-v1.37.2}"
CACHE_ROOT="${CLUSTER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/maintenance-switch/cluster}"
RECIPE=1
OUT="$CACHE_ROOT/k8s-${K8S_VERSION}-r${RECIPE}"
COMMANDS=(kubelet kube-controller-manager kube-scheduler kube-proxy)

missing=0
for cmd in "${COMMANDS[@]}"; do [[ -x "$OUT/$cmd" ]] || missing=1; done
if [[ $missing == 0 ]]; then
  echo "$OUT"
  exit 0
fi

# shellcheck source=../lib/build-k8s.sh
source "$(dirname "$0")/../lib/build-k8s.sh"
started=$(date +%s)
echo "cluster binaries: kubernetes $K8S_VERSION -> $OUT" >&2
build_k8s_commands "$K8S_VERSION" "$OUT.tmp" "${COMMANDS[@]}"
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
echo "cluster binaries: built in $(( $(date +%s) - started )) s" >&2
echo "$OUT"
