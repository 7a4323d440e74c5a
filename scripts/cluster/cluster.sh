#!/usr/bin/env bash
# npm run cluster: builds or reuses every part (envtest and node binaries, metrics-server, the image, the
# Gateway API CRDs), then starts the single-node cluster in the foreground. With a script as
# its argument (npm run bench:cluster), runs that instead, with the same parts.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/parts.sh
parts_envtest
parts_node_binaries
parts_metrics_server
parts_images
parts_gateway_api_crds
exec node "${1:-scripts/cluster/run.ts}"
