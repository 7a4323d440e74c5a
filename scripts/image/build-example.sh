#!/usr/bin/env bash
# npm run image:example: the example applications, apps this project did not write, built with
# the same buildah tooling as the project's image (no daemon, no registry):
#   nginx    Debian's nginx (nginx-light) serving a static page: the stand-in app of examples/your-app
#   busybox  Debian's BusyBox httpd serving a static page: a second app, for the side-by-side test
# `build-example.sh [NAME...]` (default: both) prints the path of a docker-archive tagged
# example-NAME:dev for each, one per line, last.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/image/buildah-env.sh
source scripts/image/buildah-env.sh

RECIPE=1
declare -A PACKAGES=([nginx]=nginx-light [busybox]=busybox)
declare -A FILES=([nginx]="Containerfile nginx.conf index.html" [busybox]="Containerfile index.html healthz")

build() {
  local name=$1 tag="example-$1:dev" rootfs="$CACHE/example-$1-r$RECIPE" context="$CACHE/example-$1-context"
  if [[ ! -f "$rootfs/rootfs.tar" ]]; then
    log "making the Debian bookworm root filesystem with ${PACKAGES[$name]}"
    rm -rf "$rootfs"
    mkdir -p "$rootfs/rootfs"
    debian_rootfs "$rootfs/rootfs" "${PACKAGES[$name]}"
    rm -rf "$rootfs/rootfs/var/cache/apt/"* "$rootfs/rootfs/var/lib/apt/lists/"*
    tar -C "$rootfs/rootfs" -cf "$rootfs/rootfs.tar.tmp" .
    mv "$rootfs/rootfs.tar.tmp" "$rootfs/rootfs.tar"
    rm -rf "$rootfs/rootfs"
  fi
  rm -rf "$context"
  mkdir -p "$context"
  local file
  for file in ${FILES[$name]}; do cp "examples/$name/$file" "$context/"; done
  ln "$rootfs/rootfs.tar" "$context/rootfs.tar" 2>/dev/null || cp "$rootfs/rootfs.tar" "$context/rootfs.tar"
  log "building $tag"
  bah bud --quiet --pull=never --layers -t "$tag" "$context" >&2
  local archive="$CACHE/example-$name-dev.tar"
  rm -f "$archive"
  bah push --quiet "$tag" "docker-archive:$archive:$tag" >&2
  rm -rf "$context"
  log "built $tag; $(du -h "$archive" | cut -f1) archive"
  archives+=("$archive")
}

archives=()
names=("$@")
(( ${#names[@]} > 0 )) || names=(nginx busybox)
for name in "${names[@]}"; do
  [[ -v "PACKAGES[$name]" ]] || { echo "image: no example named $name (nginx, busybox)" >&2; exit 2; }
  build "$name"
done
printf '%s\n' "${archives[@]}"
