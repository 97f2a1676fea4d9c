#!/usr/bin/env bash
# fio on one file: natively, through `nfsl mount` with passthrough, through
# the daemon's LOCALIO path (passthrough=off) and through RPC (localio=off).
# Rows: 1 MiB sequential read and write, 4 KiB random read at QD1 (psync)
# and QD32 (io_uring), 4 KiB random write; O_DIRECT everywhere (the file
# is smaller than RAM: buffered reads would only measure page caches).
# Prints a table of MB/s or IOPS and the ratios passthrough/native and
# daemon-LOCALIO/localio=off. Needs root, fuse3, fio and a release build
# (`cargo build --release`). Usage: bash benches/mount_fio.sh [SIZE_MIB] [SECS]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
secs=${2:-5}
nfsl=${NFSL:-target/release/nfsl}
work=$(mktemp -d /var/tmp/nfsl-fio.XXXXXX)
export NFSL_MOUNT_DIR=$work/state
mkdir -p "$work/export" "$work/state" "$work/m-pt" "$work/m-daemon" "$work/m-rpc"
server_pid=
cleanup() {
  for m in m-pt m-daemon m-rpc; do
    "$nfsl" umount "$work/$m" 2>/dev/null || true
  done
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"$nfsl" serve "$work/export" -o rw,no_root_squash --port 0 --bind 127.0.0.1 \
  --state-dir "$work/state" --localio-socket "$work/localio.sock" >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/serve.log" 2>/dev/null | cut -d: -f2 || true)
  [[ -n $port ]] && break
  sleep 0.1
done
[[ -n $port ]] || { echo "server did not start" >&2; exit 1; }
url="nfs://127.0.0.1$work/export?version=3&nfsport=$port&mountport=$port&localio-socket=$work/localio.sock"
"$nfsl" mount "$url" "$work/m-pt"
"$nfsl" mount "$url" "$work/m-daemon" -o passthrough=off
"$nfsl" mount "$url" "$work/m-rpc" -o localio=off
"$nfsl" stats "$work/m-pt" | head -1
"$nfsl" stats "$work/m-rpc" | head -1
dd if=/dev/urandom of="$work/export/f" bs=1M count="$size_mib" status=none
sync

# name rw bs engine depth
rows=(
  "seq-read-1M read 1M psync 1"
  "seq-write-1M write 1M psync 1"
  "rand-read-4K-qd1 randread 4k psync 1"
  "rand-read-4K-qd32 randread 4k io_uring 32"
  "rand-write-4K randwrite 4k psync 1"
)
targets=(native:"$work/export/f" passthrough:"$work/m-pt/f" daemon-localio:"$work/m-daemon/f" localio-off:"$work/m-rpc/f")

measure() { # rw bs engine depth file -> "MB/s IOPS"
  fio --name=x --filename="$5" --rw="$1" --bs="$2" --ioengine="$3" --iodepth="$4" \
    --direct=1 --size="${size_mib}M" --runtime="$secs" --time_based --ramp_time=1 \
    --minimal 2>/dev/null |
    awk -F';' '{ if ($7 > 0) printf "%.0f %.0f\n", $7/1024*1.048576, $8; else printf "%.0f %.0f\n", $48/1024*1.048576, $49 }'
}

printf "%-20s" "row"
for t in "${targets[@]}"; do printf "%22s" "${t%%:*}"; done
printf "%14s%16s\n" "pt/native" "daemon/rpc"
for row in "${rows[@]}"; do
  read -r name rw bs engine depth <<<"$row"
  printf "%-20s" "$name"
  declare -A val=()
  for t in "${targets[@]}"; do
    read -r mbs iops < <(measure "$rw" "$bs" "$engine" "$depth" "${t#*:}")
    if [[ $bs == 1M ]]; then v=$mbs; unit="MB/s"; else v=$iops; unit="IOPS"; fi
    val[${t%%:*}]=$v
    printf "%22s" "$v $unit"
  done
  awk -v a="${val[passthrough]}" -v b="${val[native]}" -v c="${val[daemon-localio]}" -v d="${val[localio-off]}" \
    'BEGIN { printf "%13.2fx%15.2fx\n", a/b, c/d }'
done
echo "passthrough mount: $("$nfsl" stats "$work/m-pt" | grep -E '^daemon_(reads|writes) ' | tr '\n' ' ')"
