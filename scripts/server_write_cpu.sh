#!/bin/bash
# Usage: scripts/server_write_cpu.sh target/release/nfsl  (needs /tmp/rssexp/src.bin: head -c $((512<<20)) /dev/urandom > /tmp/rssexp/src.bin)
# Server CPU (user+sys, seconds) for writing a 512 MiB file with nfs-cp, 3 runs.
BIN=$1
D=$(mktemp -d); S=$(mktemp -d)
$BIN serve $D -o rw,insecure,no_root_squash --port 0 --bind 127.0.0.1 --state-dir $S --no-localio > /tmp/rssexp/out.txt 2>/dev/null &
PID=$!
sleep 1
PORT=$(sed -n 's/.*:\([0-9]*\)$/\1/p' /tmp/rssexp/out.txt | head -1)
for i in 1 2 3; do
  T0=$(awk '{print $14+$15}' /proc/$PID/stat)
  nfs-cp /tmp/rssexp/src.bin "nfs://127.0.0.1$D/f$i?version=3&nfsport=$PORT&mountport=$PORT" >/dev/null 2>&1
  T1=$(awk '{print $14+$15}' /proc/$PID/stat)
  echo "run $i: server cpu $(( (T1-T0) ))0 ms"
done
kill $PID; wait $PID 2>/dev/null; rm -rf $D $S
