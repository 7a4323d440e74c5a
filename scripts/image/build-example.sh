#!/usr/bin/env bash
# npm run image:example: the example application of kustomize/overlays/example-app, an app this
# project did not write: Debian's nginx (nginx-light) serving a static page, built with the same
# buildah tooling as the project's image (no daemon, no registry). Prints the path of a
# docker-archive tagged example-nginx:dev as its last line.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/image/buildah-env.sh
source scripts/image/buildah-env.sh

TAG="${EXAMPLE_IMAGE_TAG:-example-nginx:dev}"
RECIPE=1
ROOTFS="$CACHE/example-nginx-r$RECIPE"
context="$CACHE/example-nginx-context"
if [[ ! -f "$ROOTFS/rootfs.tar" ]]; then
  log "making the Debian bookworm root filesystem with nginx-light"
  rm -rf "$ROOTFS"
  mkdir -p "$ROOTFS/rootfs"
  debian_rootfs "$ROOTFS/rootfs" nginx-light
  rm -rf "$ROOTFS/rootfs/var/cache/apt/"* "$ROOTFS/rootfs/var/lib/apt/lists/"*
  tar -C "$ROOTFS/rootfs" -cf "$ROOTFS/rootfs.tar.tmp" .
  mv "$ROOTFS/rootfs.tar.tmp" "$ROOTFS/rootfs.tar"
  rm -rf "$ROOTFS/rootfs"
fi
rm -rf "$context"
mkdir -p "$context"
cp examples/nginx/Containerfile examples/nginx/nginx.conf examples/nginx/index.html "$context/"
ln "$ROOTFS/rootfs.tar" "$context/rootfs.tar" 2>/dev/null || cp "$ROOTFS/rootfs.tar" "$context/rootfs.tar"
log "building $TAG"
bah bud --quiet --pull=never --layers -t "$TAG" "$context" >&2
archive="$CACHE/example-nginx-dev.tar"
rm -f "$archive"
bah push --quiet "$TAG" "docker-archive:$archive:$TAG" >&2
rm -rf "$context"
log "built; $(du -h "$archive" | cut -f1) archive"
echo "$archive"
