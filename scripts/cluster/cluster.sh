#!/usr/bin/env bash
# npm run cluster: builds or reuses every part (envtest and node binaries, the image), then
# starts the single-node cluster in the foreground.
set -euo pipefail
cd "$(dirname "$0")/../.."
KUBEBUILDER_ASSETS="${KUBEBUILDER_ASSETS:-$(bash scripts/envtest/build-assets.sh | tail -n 1)}"
CLUSTER_BINARIES="${CLUSTER_BINARIES:-$(bash scripts/cluster/build-binaries.sh | tail -n 1)}"
IMAGE_ARCHIVES="${IMAGE_ARCHIVES:-$(bash scripts/image/build.sh | tail -n 2 | paste -sd, -)}"
export KUBEBUILDER_ASSETS CLUSTER_BINARIES IMAGE_ARCHIVES
exec node scripts/cluster/run.ts
