#!/bin/bash
# syscalls_per_read.sh NFSL PID URL WORKLOAD (docs/BENCHMARKS.md): system calls of server PID per 4 KiB READ
# (counted by perf tracepoints in a window inside WORKLOAD's timed run, which
# follows a seq-read that puts the file in the page cache; READs = pread64 calls)
set -euo pipefail
nfsl=$1 pid=$2 url=$3 wl=$4
out=$(mktemp)
$nfsl bench "$url" --paths rpc --size 64 --time 3 --repeats 1 --workloads seq-read,$wl > "$out" 2>&1 & b=$!
sleep 6
perf stat -x, -e 'raw_syscalls:sys_enter,syscalls:sys_enter_futex,syscalls:sys_enter_pread64,syscalls:sys_enter_newfstat,syscalls:sys_enter_writev,syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendfile64,syscalls:sys_enter_recvfrom,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_preadv2,syscalls:sys_enter_sched_yield' -p "$pid" -o "$out.perf" -- sleep 1.5
wait $b
grep -E "^rand|^seq" "$out"
awk -F, '{n[$3]=$1} END {r=n["syscalls:sys_enter_pread64"]+n["syscalls:sys_enter_preadv2"]; printf "READs (pread64+preadv2) in window: %d\n", r; for (k in n) if (k!="") printf "%-36s %9d %7.2f\n", k, n[k], (r>0? n[k]/r : 0)}' "$out.perf" | sort
rm -f "$out" "$out.perf"
