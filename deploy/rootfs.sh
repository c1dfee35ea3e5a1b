#!/bin/sh
# Assembles the container's root file system from built binaries, for the Dockerfile's final
# `FROM scratch` stage, for an offline `buildah` build, and for the tests that run it:
#   /app/hemflux, /app/hemflux-worker     the binaries (the worker is found next to the orchestrator),
#                                          debug info stripped (function names stay for backtraces)
#   /lib..., /usr/lib...                  only the shared libraries they load (found with ldd)
#   /app/profiles /app/buildings /app/data  empty, owned by the hemflux user (uid/gid 10001)
#   /tmp                                   sticky and world-writable
# Usage: deploy/rootfs.sh <folder with the built binaries> <output folder>
set -eu
bin_dir=$1
out=$2
uid=10001

mkdir -p "$out/app/profiles" "$out/app/buildings" "$out/app/data" "$out/tmp"
for bin in hemflux hemflux-worker; do
  cp "$bin_dir/$bin" "$out/app/$bin"
  strip --strip-debug "$out/app/$bin"
  # ldd prints `name => /path (addr)` and `/path (addr)`; keep the paths.
  for lib in $(ldd "$bin_dir/$bin" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
    cp -L --parents "$lib" "$out"
  done
done
chown "$uid:$uid" "$out/app/profiles" "$out/app/buildings" "$out/app/data"
chmod 1777 "$out/tmp"
