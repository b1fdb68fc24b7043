#!/usr/bin/env bash
# Runs memcoro_bench and libmemcached_bench against the same 4 memcached servers (-t 1,
# loopback, kernel-chosen ports), alternately A B A B for --rounds rounds, then prints the
# table of medians over the rounds (bench/aggregate.py).
#
#   bench/run.sh BUILD_DIR [--rounds N] [--seconds S] [--warmup S] [--scenario A,B,...]
#                [--no-threads] [--nice N] [--out DIR] [-- extra options for both benchmarks]
#
# --no-threads skips the third program of each round, memcoro with --threads 2 (a client
# per io_context thread), reported as its own column. --nice N runs the servers and both
# clients under `nice -n N` (a negative N, as root, shields them from other load on the
# machine). --out keeps the raw JSON lines there.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[[ $# -ge 1 ]] || usage
build=$1
shift
rounds=3
seconds=2
warmup=0.5
scenario=
threads2=1
out=
nice_level=
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
  --rounds) rounds=$2; shift 2 ;;
  --seconds) seconds=$2; shift 2 ;;
  --warmup) warmup=$2; shift 2 ;;
  --scenario) scenario=$2; shift 2 ;;
  --no-threads) threads2=0; shift ;;
  --out) out=$2; shift 2 ;;
  --nice) nice_level=$2; shift 2 ;;
  --) shift; extra=("$@"); break ;;
  -h | --help) usage ;;
  *) echo "unknown option: $1" >&2; usage ;;
  esac
done
((rounds >= 1)) || { echo "--rounds must be at least 1" >&2; exit 2; }

mc_bench=$build/bench/memcoro_bench
lm_bench=$build/bench/libmemcached_bench
for b in "$mc_bench" "$lm_bench"; do
  [[ -x $b ]] || { echo "$b not found: meson setup $build -Dbench=enabled -Dbuildtype=release && ninja -C $build" >&2; exit 2; }
done

RUN_PREFIX=()
[[ -n $nice_level ]] && RUN_PREFIX=(nice -n "$nice_level")
scratch=$(mktemp -d /tmp/memcoro-bench-XXXXXX)
# shellcheck source=servers.sh
source "$here/servers.sh"
cleanup() {
  stop_servers
  rm -rf "$scratch"
}
start_servers 4 "$scratch" || { cleanup; exit 1; }
trap cleanup EXIT
if [[ -n $out ]]; then
  mkdir -p "$out"
  results=$out
else
  results=$scratch/results
  mkdir -p "$results"
fi

args=(--servers "$SERVERS" --seconds "$seconds" --warmup "$warmup")
[[ -n $scenario ]] && args+=(--scenario "$scenario")
args+=("${extra[@]}")

{
  echo "memcached: $(${MEMCACHED_BINARY:-memcached} -V) -t 1 x4 on $SERVERS"
  echo "cpus: $(nproc), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "rounds: $rounds, ${seconds}s measured + ${warmup}s warm-up per scenario${nice_level:+, nice $nice_level}"
} | tee "$results/info.txt" >&2

failed=0
run_one() { # label, file, command...
  local label=$1 file=$2
  shift 2
  echo "round $r: $label" >&2
  if ! ${RUN_PREFIX[@]+"${RUN_PREFIX[@]}"} "$@" >"$file"; then
    echo "!!! $label failed in round $r (see above)" >&2
    failed=1
  fi
}
for ((r = 1; r <= rounds; r++)); do
  run_one memcoro "$results/round$r.a.memcoro.jsonl" "$mc_bench" "${args[@]}"
  run_one libmemcached "$results/round$r.b.libmemcached.jsonl" "$lm_bench" "${args[@]}"
  if ((threads2)); then
    run_one "memcoro --threads 2" "$results/round$r.c.memcoro-2t.jsonl" "$mc_bench" "${args[@]}" --threads 2
  fi
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results/info.txt" >&2

cat "$results/info.txt"
python3 "$here/aggregate.py" "$results" || failed=1
if ((failed)); then
  echo "some runs failed (errors or replies that did not verify)" >&2
  exit 1
fi
