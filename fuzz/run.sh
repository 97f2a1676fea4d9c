#!/usr/bin/env bash
# Runs every fuzz target (or those named after the time) for a fixed time
# each, one after the other, at the lowest CPU priority, and prints the
# executions and crashes of each.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     (default 60 s, every target)
#
# Environment: SANITIZER (address, the default, or none: faster, still
# catching panics, hangs and the targets' own memory bounds), RSS_MB
# (default 2048), MALLOC_MB (largest single allocation, default 512),
# TIMEOUT (seconds per input, default 10).
# New inputs go to fuzz/work/TARGET (ignored by git); the committed seeds
# in fuzz/corpus/TARGET are read, never written. Crashes, hangs (timeout-*)
# and allocations over the limits (oom-*, malloc limit) are saved in
# fuzz/artifacts/TARGET. Needs cargo-fuzz; on a stable toolchain
# RUSTC_BOOTSTRAP=1 lets it use the nightly-only sanitizer flags.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^nfsl-fuzz$')
fi
sanitizer=${SANITIZER:-address}
export RUSTC_BOOTSTRAP=1
unset CARGO_TARGET_DIR # cargo-fuzz builds in fuzz/target
build_log=$(mktemp)
if ! nice -n 19 cargo fuzz build -s "$sanitizer" >"$build_log" 2>&1; then
    cat "$build_log" >&2
    exit 1
fi
rm -f "$build_log"
printf '%-16s %12s %8s %10s %8s\n' target executions seconds exec/s crashes
status=0
for t in "${targets[@]}"; do
    mkdir -p "work/$t" "artifacts/$t"
    log=$(mktemp)
    before=$(find "artifacts/$t" -type f | wc -l)
    start=$(date +%s)
    set +e
    nice -n 19 cargo fuzz run -s "$sanitizer" "$t" "work/$t" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb="${RSS_MB:-2048}" \
        -malloc_limit_mb="${MALLOC_MB:-512}" -timeout="${TIMEOUT:-10}" \
        -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    took=${took:-$(( $(date +%s) - start ))}
    crashes=$(( $(find "artifacts/$t" -type f | wc -l) - before ))
    rate=$(( ${runs:-0} / (took > 0 ? took : 1) ))
    printf '%-16s %12s %8s %10s %8s\n' "$t" "${runs:-?}" "$took" "$rate" "$crashes"
    if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        status=1
        echo "  $t failed (exit $rc); log: $log" >&2
        grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -5 >&2 || true
    else
        rm -f "$log"
    fi
done
exit $status
