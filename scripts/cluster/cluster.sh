#!/usr/bin/env bash
# npm run cluster: builds or reuses every part (envtest and node binaries, the image, the
# Gateway API CRDs), then starts the single-node cluster in the foreground. With a script as
# its argument (npm run bench:cluster), runs that instead, with the same parts.
set -euo pipefail
cd "$(dirname "$0")/../.."
KUBEBUILDER_ASSETS="${KUBEBUILDER_ASSETS:-$(bash scripts/envtest/build-assets.sh | tail -n 1)}"
CLUSTER_BINARIES="${CLUSTER_BINARIES:-$(bash scripts/cluster/build-binaries.sh | tail -n 1)}"
IMAGE_ARCHIVES="${IMAGE_ARCHIVES:-$(bash scripts/image/build.sh | tail -n 2 | paste -sd, -),$(bash scripts/image/build-example.sh | tail -n 1)}"
GATEWAY_API_CRDS="${GATEWAY_API_CRDS:-$(bash scripts/envtest/gateway-api-crds.sh | tail -n 1)}"
export KUBEBUILDER_ASSETS CLUSTER_BINARIES IMAGE_ARCHIVES GATEWAY_API_CRDS
exec node "${1:-scripts/cluster/run.ts}"
