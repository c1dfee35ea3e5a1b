#!/bin/sh
# Assembles the container's root file system from built binaries, for the Dockerfile's final
# `FROM scratch` stage, for an offline `buildah` build, and for the tests that run it:
#   /app/hemflux, /app/hemflux-worker     the binaries (the worker is found next to the orchestrator),
#                                          debug info stripped (function names stay for backtraces)
#   /lib..., /usr/lib...                  only the shared libraries they load (found with ldd)
#   /tmp                                   sticky and world-writable
#   /app/profiles /app/buildings /app/data  empty, owned by the hemflux user (uid/gid 10001)
# Usage: deploy/rootfs.sh <folder with the built binaries> <output folder> [<volumes folder>]
# With a volumes folder the three empty folders go there instead of <output>/app: a Dockerfile
# COPY makes everything root's, so the image copies them separately with --chown.
set -eu
bin_dir=$1
out=$2
volumes=${3:-$out/app}
uid=10001

mkdir -p "$out/app" "$out/tmp" "$volumes/profiles" "$volumes/buildings" "$volumes/data"
for bin in hemflux hemflux-worker; do
  cp "$bin_dir/$bin" "$out/app/$bin"
  strip --strip-debug "$out/app/$bin"
  # ldd prints `name => /path (addr)` and `/path (addr)`; keep the paths.
  for lib in $(ldd "$bin_dir/$bin" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
    cp -L --parents "$lib" "$out"
  done
done
chown "$uid:$uid" "$volumes/profiles" "$volumes/buildings" "$volumes/data"
chmod 1777 "$out/tmp"
