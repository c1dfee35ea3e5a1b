#!/bin/sh
# Builds the hemflux image with no network and no container engine: the binaries come from this
# machine's `cargo build --release`, and Debian's buildah applies the final (`FROM scratch`) stage
# of deploy/Dockerfile to them, so the image has the same user, volumes, health check and entry
# point as `docker build` gives. Needs root (or a user namespace) for buildah; on a machine
# without overlayfs run it with STORAGE_DRIVER=vfs.
#   deploy/build-offline.sh [image name, default hemflux:latest]
#   deploy/build-offline.sh --print-containerfile     (what buildah is given; used by the tests)
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)

# The Dockerfile's final stage, its files taken from the context folders rootfs/ and volumes/
# (made by deploy/rootfs.sh) instead of the build stage.
containerfile() {
  sed -n '/^FROM scratch/,$p' "$repo/deploy/Dockerfile" \
    | sed 's|^COPY --from=build \(--chown=[^ ]* \)\{0,1\}/\([a-z]*\)/|COPY \1\2/|'
}
if [ "${1:-}" = --print-containerfile ]; then
  containerfile
  exit 0
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cargo build --release -p hemflux -p hemflux-worker --manifest-path "$repo/Cargo.toml"
sh "$repo/deploy/rootfs.sh" "$repo/target/release" "$ctx/rootfs" "$ctx/volumes"
containerfile > "$ctx/Containerfile"
# `docker` format: the OCI format has no HEALTHCHECK.
buildah bud --format docker -t "${1:-hemflux:latest}" -f "$ctx/Containerfile" "$ctx"
