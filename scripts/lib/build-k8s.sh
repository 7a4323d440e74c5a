# Sourced by the build scripts. build_k8s_commands VERSION OUT_DIR CMD... builds the named
# commands of k8s.io/kubernetes (kube-apiserver, kubelet, ...) from the Go module proxy into
# OUT_DIR. k8s.io/kubernetes replaces its staging modules with local paths, so `go install`
# refuses it: a wrapper module replaces each with its published tag instead, and the version
# is stamped as the release build does (otherwise the binaries say v0.0.0-master).
build_k8s_commands() {
  local version="$1" out="$2"
  shift 2
  command -v go >/dev/null || { echo "build-k8s: the Go toolchain is required (go not on PATH)" >&2; return 1; }
  local work staging_version kube_mod go_line minor stamp pkg cmd
  work="$(mktemp -d)"
  staging_version="v0.${version#v1.}"
  mkdir -p "$out"
  (
    cd "$work"
    go mod init "build-k8s" >/dev/null 2>&1
    go mod edit -require="k8s.io/kubernetes@$version"
    go mod download "k8s.io/kubernetes@$version"
    kube_mod="$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    go_line="$(grep -m1 '^go ' "$kube_mod")"
    go mod edit -go="${go_line#go }"
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$kube_mod" | awk '{print $1}' | while read -r mod; do
      go mod edit -replace="$mod=$mod@$staging_version"
    done
    {
      printf '//go:build tools\n\npackage tools\n\nimport (\n'
      for cmd in "$@"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$cmd"; done
      printf ')\n'
    } > tools.go
    go mod tidy >&2
    minor="${version#v1.}"; minor="${minor%%.*}"
    stamp=""
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      stamp+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    done
    for cmd in "$@"; do
      CGO_ENABLED=0 go build -trimpath -ldflags="-s -w$stamp" -o "$out/$cmd" "k8s.io/kubernetes/cmd/$cmd" >&2
    done
  )
  local status=$?
  rm -rf "$work"
  return $status
}
