#!/bin/sh
# Builds the hemflux image with no network and no container engine: the binaries come from this
# machine's `cargo build --release`, and Debian's buildah applies the final (`FROM scratch`) stage
# of deploy/Dockerfile to them, so the image has the same user, volumes, health check and entry
# point as `docker build` gives. Needs root (or a user namespace) for buildah; on a machine
# without overlayfs run it with STORAGE_DRIVER=vfs.
#   deploy/build-offline.sh [image name, default hemflux:latest]
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

cargo build --release -p hemflux -p hemflux-worker --manifest-path "$repo/Cargo.toml"
sh "$repo/deploy/rootfs.sh" "$repo/target/release" "$ctx/rootfs" "$ctx/volumes"
# The Dockerfile's final stage, its files taken from the folders instead of the build stage.
sed -n '/^FROM scratch/,$p' "$repo/deploy/Dockerfile" \
  | sed 's|^COPY --from=build \(--chown=[^ ]* \)\{0,1\}/\([a-z]*\)/|COPY \1\2/|' > "$ctx/Containerfile"
# `docker` format: the OCI format has no HEALTHCHECK.
buildah bud --format docker -t "${1:-hemflux:latest}" -f "$ctx/Containerfile" "$ctx"
