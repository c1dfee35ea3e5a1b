#!/usr/bin/env bash
# Fuzzes the ECHONET Lite decoder for a while (default 60 s) with libFuzzer and AddressSanitizer,
# on a stable toolchain: RUSTC_BOOTSTRAP=1 unlocks -Zsanitizer, the rest are stable flags (the
# same ones `cargo fuzz` passes). Needs a C++ compiler (libfuzzer-sys builds libFuzzer).
# Usage: fuzz/run.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
target="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Zsanitizer=address"
cargo build --release --target "$target" --bin echonet_frame
mkdir -p corpus/echonet_frame artifacts
# Seeds: frames from docs/serial.md's protocol page (Get_Res E7, Get_SNA, D5 INF, Set_Res).
for hex in 1081000302880105FF017201E70400000278 1081000102880105FF0152018300 \
           108100000EF0010EF0017301D50401028801 1081000602880105FF017101E500; do
  printf "$(echo "$hex" | sed 's/../\\x&/g')" > "corpus/echonet_frame/$hex"
done
"target/$target/release/echonet_frame" corpus/echonet_frame -artifact_prefix=artifacts/ \
  -max_total_time="$secs" -print_final_stats=1
