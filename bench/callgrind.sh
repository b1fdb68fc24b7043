#!/usr/bin/env bash
# Instructions per operation of memcoro and libmemcached under valgrind --tool=callgrind: each
# benchmark runs a fixed number of ops (--ops) of one scenario against its own memcached
# servers; the benchmark zeroes callgrind's counters when the measured ops begin and dumps
# them when they end (callgrind client requests), so preloading and warm-up are not counted.
#
#   bench/callgrind.sh BUILD_DIR [--ops N] [--warmup-ops N] [--scenario NAME] [--annotate N]
#                     [--lm-args "ARGS"] [--mc-args "ARGS"] [--io-hint one|unsafe|default] [--keep DIR]
#                     [--tls] [--tls-args "ARGS"]
#
# Defaults: --ops 20000 --warmup-ops 1000 --scenario get_seq_1srv. --annotate N also prints
# the N costliest functions (self cost) of each client, and its instructions by object file
# (the program, libmemcoro, libssl, libcrypto, libc...). --keep DIR keeps the callgrind.out
# files. --lm-args passes options to libmemcached_bench only (e.g. "--ketama"), --mc-args to
# memcoro_bench only (e.g. "--distribution modula --hash one-at-a-time"). --io-hint sets the
# io_context's concurrency hint of memcoro_bench and asio_floor_bench (default one: 1).
# --tls adds a row, memcoro-tls: memcoro over TLS against 4 more servers (memcached -Z, a
# certificate made with openssl as in bench/run.sh --tls); --tls-args passes options to that
# run only, after --mc-args (e.g. "--tls-nudge-ms 0").
#
# For get_seq_1srv a third row, asio-floor, counts asio_floor_bench: the thinnest get an Asio
# coroutine can make (no client logic at all), the floor under any asio::awaitable client.
#
# Counts user-space instructions of the client process only: the kernel's share of each
# syscall and the server are not in it. For libmemcached use a scenario with one caller
# (get_seq_1srv, set_seq_1srv, mget100_4srv, mget10k_4srv, set_pipe100_1srv): it runs a
# thread per caller, and callgrind's zero/dump requests act on the calling thread only
# (memcoro runs all its callers on one thread, so any scenario is counted whole).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
usage() {
  sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
[[ $# -ge 1 ]] || usage
build=$1
shift
ops=20000
warmup_ops=1000
scenario=get_seq_1srv
annotate=0
lm_args=
mc_args=
io_hint=one
keep=
tls=0
tls_args=
while [[ $# -gt 0 ]]; do
  case $1 in
  --ops) ops=$2; shift 2 ;;
  --warmup-ops) warmup_ops=$2; shift 2 ;;
  --scenario) scenario=$2; shift 2 ;;
  --annotate) annotate=$2; shift 2 ;;
  --keep) keep=$2; shift 2 ;;
  --lm-args) lm_args=$2; shift 2 ;;
  --mc-args) mc_args=$2; shift 2 ;;
  --io-hint) io_hint=$2; shift 2 ;;
  --tls) tls=1; shift ;;
  --tls-args) tls_args=$2; shift 2 ;;
  -h | --help) usage ;;
  *) echo "unknown option: $1" >&2; usage ;;
  esac
done
command -v valgrind >/dev/null || { echo "valgrind not found: apt-get install valgrind" >&2; exit 2; }
for b in memcoro_bench libmemcached_bench; do
  [[ -x $build/bench/$b ]] || { echo "$build/bench/$b not found" >&2; exit 2; }
done

scratch=$(mktemp -d /tmp/memcoro-callgrind-XXXXXX)
# shellcheck source=servers.sh
source "$here/servers.sh"
cleanup() {
  stop_servers
  rm -rf "$scratch"
}
start_servers 4 "$scratch" || { cleanup; exit 1; }
plain_servers=$SERVERS
tls_servers=
if ((tls)); then
  { make_tls_files "$scratch/tls" && start_servers 4 "$scratch/tls" "${TLS_SERVER_ARGS[@]}"; } ||
    { cleanup; exit 1; }
  tls_servers=$SERVERS
  SERVERS=$plain_servers
fi
trap cleanup EXIT
out=${keep:-$scratch/out}
mkdir -p "$out"

echo "valgrind $(valgrind --version | sed 's/valgrind-//'), scenario $scenario, $ops measured ops" \
  "(+$warmup_ops warm-up), servers $SERVERS${tls_servers:+, TLS servers $tls_servers}"
printf '%-14s %14s %10s %12s\n' client "Ir measured" ops "Ir per op"
read -r -a lm_extra <<<"$lm_args"
read -r -a mc_extra <<<"$mc_args"
read -r -a tls_extra <<<"$tls_args"
clients=(memcoro libmemcached)
[[ $scenario == get_seq_1srv && -x $build/bench/asio_floor_bench ]] && clients+=(asio_floor)
((tls)) && clients+=(memcoro-tls)
for client in "${clients[@]}"; do
  rm -f "$out/$client".*
  extra=()
  program=$client
  servers=$SERVERS
  [[ $client == libmemcached ]] && extra=(${lm_extra[@]+"${lm_extra[@]}"})
  [[ $client == memcoro ]] && extra=(${mc_extra[@]+"${mc_extra[@]}"} --io-hint "$io_hint")
  [[ $client == asio_floor ]] && extra=(--io-hint "$io_hint")
  if [[ $client == memcoro-tls ]]; then
    program=memcoro
    servers=$tls_servers
    extra=(--tls-ca "$TLS_CA" ${mc_extra[@]+"${mc_extra[@]}"} ${tls_extra[@]+"${tls_extra[@]}"}
      --io-hint "$io_hint")
  fi
  # A small key space keeps the (uncounted) preload short under valgrind.
  valgrind --tool=callgrind --separate-threads=yes \
    --callgrind-out-file="$out/$client.%p" \
    "$build/bench/${program}_bench" --servers "$servers" --scenario "$scenario" \
    --ops "$ops" --warmup-ops "$warmup_ops" --keys 10000 ${extra[@]+"${extra[@]}"} \
    >"$out/$client.json" 2>"$out/$client.log" ||
    { echo "$client failed:" >&2; tail -20 "$out/$client.log" >&2; exit 1; }
  # The dump part triggered by the "measured" client request: one file per thread that ran.
  files=$(grep -l '^desc: Trigger: Client Request: measured' "$out/$client".* || true)
  [[ -n $files ]] || { echo "no measured dump for $client" >&2; exit 1; }
  ir=0
  for f in $files; do
    ir=$((ir + $(sed -n 's/^summary: //p' "$f")))
  done
  printf '%-14s %14d %10d %12s\n' "$client" "$ir" "$ops" "$(awk -v a="$ir" -v b="$ops" 'BEGIN { printf "%.0f", a / b }')"
  if ((annotate > 0)); then
    for f in $files; do
      callgrind_annotate --inclusive=no --threshold=100 "$f" 2>/dev/null |
        grep -E '^ *[0-9,]+ \( *[0-9.]+%\) ' | grep -v -e 'PROGRAM TOTALS' -e '(100.0%)' \
        >"$f.functions" || true
      sed -E 's/ \[[^]]*\]$//' "$f.functions" | head -n "$annotate" | cut -c1-160 | sed "s/^/  /"
      # By object file: the [object] callgrind_annotate puts after each function.
      awk -v ops="$ops" '{
          n = $1; gsub(",", "", n)
          obj = "?"
          if (match($0, /\[[^]]*\]$/)) obj = substr($0, RSTART + 1, RLENGTH - 2)
          sub(".*/", "", obj)
          by[obj] += n
        }
        END { for (o in by) printf "%d %s\n", by[o], o }' "$f.functions" | sort -rn |
        awk -v ops="$ops" '{ printf "  %-28s %12.0f per op\n", $2, $1 / ops }' |
        sed '1i\  by object file (self cost):'
    done
  fi
done
