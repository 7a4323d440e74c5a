# Sourced by the image scripts: buildah with its storage and configuration in the cache (not in
# /etc or /var), and a minimal Debian bookworm root filesystem from the machine's own apt sources.
CACHE="${IMAGE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/maintenance-switch/image}"
started=$(date +%s)
log() { echo "image: $* ($(( $(date +%s) - started )) s)" >&2; }

for tool in buildah mmdebstrap; do
  command -v "$tool" >/dev/null || { echo "image: $tool is required (apt-get install buildah mmdebstrap)" >&2; exit 1; }
done

mkdir -p "$CACHE/storage" "$CACHE/run"
export CONTAINERS_STORAGE_CONF="$CACHE/storage.conf"
export CONTAINERS_CONF="$CACHE/containers.conf"
cat > "$CONTAINERS_STORAGE_CONF" <<CONF
[storage]
driver = "overlay"
runroot = "$CACHE/run"
graphroot = "$CACHE/storage"
CONF
cat > "$CONTAINERS_CONF" <<'CONF'
[engine]
# crun fails on this kind of hybrid-cgroup host; runc works.
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
bah() { buildah --storage-driver overlay "$@"; }

has_image() { bah inspect --type image "$1" >/dev/null 2>&1; }

# debian_rootfs DIR [PACKAGE...]: minbase bookworm plus the packages, without docs, man pages or locales.
debian_rootfs() {
  local dir=$1 include=""
  shift
  (( $# > 0 )) && include="--include=$(IFS=,; echo "$*")"
  # The machine's own apt sources, so the same mirror as apt-get is used.
  local sources
  sources="$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true)"
  printf '%s\n' "$sources" | mmdebstrap --quiet --variant=minbase ${include:+"$include"} \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    bookworm "$dir" - >&2
}
