#!/usr/bin/env bash
# Prints the path of KEDA's ScaledObject CRD. It ships inside the github.com/kedacore/keda/v2 Go
# module, cached in Go's module cache; no KEDA controller is needed to check what the admin writes.
set -euo pipefail
VERSION="${KEDA_VERSION:-v2.20.1}"
command -v go >/dev/null || { echo "keda-crds: the Go toolchain is required (go not on PATH)" >&2; exit 1; }
dir="$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "github.com/kedacore/keda/v2@$VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
crd="$dir/config/crd/bases/keda.sh_scaledobjects.yaml"
[[ -f "$crd" ]] || { echo "keda-crds: no ScaledObject CRD in github.com/kedacore/keda/v2@$VERSION" >&2; exit 1; }
echo "$crd"
