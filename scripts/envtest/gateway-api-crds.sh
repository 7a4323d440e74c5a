#!/usr/bin/env bash
# Prints the directory of the standard Gateway API CRDs. They are not built into kube-apiserver;
# their YAML ships inside the sigs.k8s.io/gateway-api Go module, cached in Go's module cache.
set -euo pipefail
VERSION="${GATEWAY_API_VERSION:-v1.6.3}"
command -v go >/dev/null || { echo "gateway-api-crds: the Go toolchain is required (go not on PATH)" >&2; exit 1; }
dir="$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/gateway-api@$VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
[[ -d "$dir/config/crd/standard" ]] || { echo "gateway-api-crds: no CRDs in sigs.k8s.io/gateway-api@$VERSION" >&2; exit 1; }
echo "$dir/config/crd/standard"
