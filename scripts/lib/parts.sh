# The parts a real cluster needs, built or reused from the cache, one function each. Source
# this file, then call the functions: each exports its variable unless it is already set.
# Both .ci/run and scripts/cluster/cluster.sh use it, so the recipe exists once.

# kube-apiserver, etcd and kubectl (envtest).
parts_envtest() {
  KUBEBUILDER_ASSETS="${KUBEBUILDER_ASSETS:-$(bash scripts/envtest/build-assets.sh | tail -n 1)}"
  export KUBEBUILDER_ASSETS
}

# kubelet, kube-controller-manager, kube-scheduler and kube-proxy.
parts_node_binaries() {
  CLUSTER_BINARIES="${CLUSTER_BINARIES:-$(bash scripts/cluster/build-binaries.sh | tail -n 1)}"
  export CLUSTER_BINARIES
}

# metrics-server, for the HPA controller on the node.
parts_metrics_server() {
  METRICS_SERVER="${METRICS_SERVER:-$(bash scripts/cluster/build-metrics-server.sh | tail -n 1)}"
  export METRICS_SERVER
}

# KEDA's ScaledObject CRD, for the autoscaling hold's e2e test.
parts_keda_crds() {
  KEDA_CRDS="${KEDA_CRDS:-$(bash scripts/envtest/keda-crds.sh | tail -n 1)}"
  export KEDA_CRDS
}

# The image from the Dockerfile and the pause image (npm run image), and the example app's.
parts_images() {
  IMAGE_ARCHIVES="${IMAGE_ARCHIVES:-$(bash scripts/image/build.sh | tail -n 2 | paste -sd, -),$(bash scripts/image/build-example.sh | tail -n 2 | paste -sd, -)}"
  export IMAGE_ARCHIVES
}

# The standard Gateway API CRDs.
parts_gateway_api_crds() {
  GATEWAY_API_CRDS="${GATEWAY_API_CRDS:-$(bash scripts/envtest/gateway-api-crds.sh | tail -n 1)}"
  export GATEWAY_API_CRDS
}

# parts_go_tool VAR NAME VERSION PACKAGE: a Go tool built once into the cache, its path in VAR
# (a VAR set already is taken as it is).
parts_go_tool() {
  local -n tool=$1
  tool="${tool:-${XDG_CACHE_HOME:-$HOME/.cache}/maintenance-switch/tools/$2-$3/$2}"
  if [[ ! -x "$tool" ]]; then
    GOBIN="$(dirname "$tool")" go install "$4@$3" >&2
  fi
  export "${!tool}"
}

# actionlint, from Go modules, to check .github/workflows (the workflows cannot run here).
parts_actionlint() { parts_go_tool ACTIONLINT actionlint v1.7.12 github.com/rhysd/actionlint/cmd/actionlint; }

# kube-score, which the manifest test runs over the recipe and the production overlay.
parts_kube_score() { parts_go_tool KUBE_SCORE kube-score v1.20.0 github.com/zegl/kube-score/cmd/kube-score; }
