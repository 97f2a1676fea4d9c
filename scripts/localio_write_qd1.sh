#!/bin/sh
# nfsl bench's 4 KiB buffered write rows, LOCALIO against pwrite, for two
# nfsl builds in alternating runs (after, before, before, after), on each
# export directory given.
# The server is B's `nfsl serve` (the IO engine is client side only).
#
#   scripts/localio_write_qd1.sh BEFORE_NFSL AFTER_NFSL DIR...
#
# Each DIR must exist (e.g. one on ext4, one on an XFS loop mount); the
# benchmark writes a 256 MiB file in it. Output: one `nfsl bench` table per
# run, labelled with the directory, the build and the run.
set -eu
before=$1 after=$2
shift 2
state=$(mktemp -d /var/tmp/nfsl-wqd1-state.XXXXXX)
chmod 700 "$state"
for dir in "$@"; do
    out=$(mktemp)
    RUST_LOG=warn "$after" serve "$dir" -o rw,no_root_squash --port 0 \
        --bind 127.0.0.1 --no-rpcbind --state-dir "$state" >"$out" 2>&1 &
    srv=$!
    port=
    for _ in $(seq 50); do
        port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$out")
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { cat "$out"; kill "$srv"; exit 1; }
    url="nfs://127.0.0.1$dir?version=3&nfsport=$port&mountport=$port"
    run=0
    for build in "$after" "$before" "$before" "$after"; do
        run=$((run + 1))
        echo "== $dir: $(basename "$build"), run $run ($(date -u +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))"
        "$build" bench "$url" --size 256 --time 1 --repeats 3 --modes buffered \
            --paths pread,io_uring,localio --workloads rand-write-qd1,rand-write-qd8
    done
    kill "$srv"
    wait "$srv" 2>/dev/null || true
    rm -f "$out"
done
rm -rf "$state"
