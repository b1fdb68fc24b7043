#!/usr/bin/env bash
# Where the CPU goes in a scenario: the client's and the four servers' CPU time per key, and the
# idle share of the machine, sampled from /proc over the middle of each program's run. Shows
# when a ratio is bounded by the servers sharing the cores with the client rather than by the
# client itself (see docs/performance.md, "Where the targets are missed").
#
#   bench/server_cpu.sh BUILD_DIR [--scenario S] [--rounds N] [--seconds S] [--meta] [--tls]
#                       [-- extra options for both benchmarks]
#
# Defaults: mget10k_4srv, 2 rounds (memcoro then libmemcached each round), 4 s runs of which
# the 2 s after the first 1.5 s are sampled. --meta adds memcoro on the meta protocol to each
# round (memcoro-meta), --tls memcoro over TLS (memcoro-tls) against 4 more servers with -Z,
# whose CPU is then the servers' column. Servers as in bench/run.sh (--tls: as with its --tls).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
[[ $# -ge 1 ]] || usage
build=$1
shift
scenario=mget10k_4srv
rounds=2
seconds=4
clients=(memcoro libmemcached)
tls=0
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
  --scenario) scenario=$2; shift 2 ;;
  --rounds) rounds=$2; shift 2 ;;
  --seconds) seconds=$2; shift 2 ;;
  --meta) clients=(memcoro memcoro-meta libmemcached); shift ;;
  --tls) tls=1; shift ;;
  --) shift; extra=("$@"); break ;;
  -h | --help) usage ;;
  *) echo "unknown option: $1" >&2; usage ;;
  esac
done
((seconds >= 4)) || { echo "--seconds must be at least 4" >&2; exit 2; }
((tls)) && clients+=(memcoro-tls)

scratch=$(mktemp -d /tmp/memcoro-cpu-XXXXXX)
# shellcheck source=servers.sh
source "$here/servers.sh"
cleanup() {
  stop_servers
  rm -rf "$scratch"
}
start_servers 4 "$scratch" || { cleanup; exit 1; }
plain_servers=$SERVERS
plain_pids=("${SERVER_PIDS[@]}")
tls_servers=
tls_pids=()
if ((tls)); then
  { make_tls_files "$scratch/tls" && start_servers 4 "$scratch/tls" "${TLS_SERVER_ARGS[@]}"; } ||
    { cleanup; exit 1; }
  tls_servers=$SERVERS
  tls_pids=("${SERVER_PIDS[@]:${#plain_pids[@]}}")
  SERVERS=$plain_servers
fi
trap cleanup EXIT

ticks() { # utime + stime of the given pids, in clock ticks
  local t=0 pid
  for pid in "$@"; do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$t"
}
idle() { awk '/^cpu /{print $5 + $6}' /proc/stat; }
hz=$(getconf CLK_TCK)

echo "scenario $scenario, servers $SERVERS${tls_servers:+ (TLS: $tls_servers)}, $(nproc) cpus, $hz ticks/s"
printf '%-13s %12s %16s %16s %10s\n' client keys/s "server µs/key" "client µs/key" "idle %"
for ((r = 1; r <= rounds; r++)); do
  for client in "${clients[@]}"; do
    out=$scratch/$client.$r.json
    program=$client
    dialect=()
    servers=$SERVERS
    pids=("${plain_pids[@]}")
    if [[ $client == memcoro-meta ]]; then
      program=memcoro
      dialect=(--protocol meta)
    elif [[ $client == memcoro-tls ]]; then
      program=memcoro
      dialect=(--tls-ca "$TLS_CA")
      servers=$tls_servers
      pids=("${tls_pids[@]}")
    fi
    "$build/bench/${program}_bench" --servers "$servers" --scenario "$scenario" \
      --seconds "$seconds" --warmup 0.5 ${dialect[@]+"${dialect[@]}"} \
      ${extra[@]+"${extra[@]}"} >"$out" &
    pid=$!
    sleep 1.5
    s1=$(ticks "${pids[@]}"); c1=$(ticks "$pid"); i1=$(idle); t1=$(date +%s.%N)
    sleep 2
    s2=$(ticks "${pids[@]}"); c2=$(ticks "$pid"); i2=$(idle); t2=$(date +%s.%N)
    wait "$pid"
    python3 - "$out" "$client" "$((s2 - s1))" "$((c2 - c1))" "$((i2 - i1))" "$t1" "$t2" "$hz" <<'EOF'
import json, os, sys
out, client, s, c, i, t1, t2, hz = sys.argv[1:]
d = json.loads(open(out).readline())
wall = float(t2) - float(t1)
keys = d["keys_per_s"] * wall
us = 1e6 / int(hz)
print("%-13s %12.0f %16.3f %16.3f %10.1f" % (client, d["keys_per_s"], int(s) * us / keys,
      int(c) * us / keys, 100 * int(i) / (int(hz) * wall * os.cpu_count())))
EOF
  done
done
