#!/usr/bin/env bash
# Runs memcoro_bench and libmemcached_bench against the same 4 memcached servers (-t 1,
# loopback, kernel-chosen ports), alternately A B A B for --rounds rounds (default 3), then
# prints the table of medians over the rounds (bench/aggregate.py). Each round runs the
# scenarios one by one, each program in turn (a process per scenario, which preloads its
# data first); --per-program runs all scenarios in one process per program instead.
#
#   bench/run.sh BUILD_DIR [--rounds N] [--seconds S] [--warmup S] [--scenario A,B,...]
#                [--no-threads] [--no-meta] [--tls] [--udp] [--per-program] [--nice N]
#                [--lm-args "ARGS"] [--mc-args "ARGS"] [--tls-args "ARGS"] [--out DIR]
#                [-- extra options for both benchmarks]
#
# --no-threads skips the third program of each round, memcoro with --threads 2 (a client
# per io_context thread), reported as its own column. --no-meta skips the fourth, memcoro on
# the meta protocol (--protocol meta): the dialect columns, against text and libmemcached.
# --tls adds a fifth: memcoro over TLS (memcoro-tls) against 4 more servers, the same flags
# plus -Z and a certificate for IP:127.0.0.1 from a CA made with openssl in the scratch
# directory (EC P-256, verified by the client); its columns compare it with plaintext memcoro.
# --udp adds memcoro with gets over UDP (memcoro-udp) against the same 4 servers, started with
# -U -1 (a UDP port each, chosen by the kernel); writes go over TCP.
# --nice N runs the servers and both clients under `nice -n N` (a negative N, as root,
# shields them from other load on the machine). --lm-args passes options to
# libmemcached_bench only (e.g. "--ketama"), --mc-args to memcoro_bench only (e.g.
# "--distribution modula --hash one-at-a-time"), --tls-args to the TLS run only, after
# --mc-args (e.g. "--tls-nudge-ms 0"). --out keeps the raw JSON lines there.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
usage() {
  sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2
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
meta=1
tls=0
udp=0
per_program=0
out=
nice_level=
lm_args=
mc_args=
tls_args=
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
  --rounds) rounds=$2; shift 2 ;;
  --seconds) seconds=$2; shift 2 ;;
  --warmup) warmup=$2; shift 2 ;;
  --scenario) scenario=$2; shift 2 ;;
  --no-threads) threads2=0; shift ;;
  --no-meta) meta=0; shift ;;
  --tls) tls=1; shift ;;
  --udp) udp=1; shift ;;
  --per-program) per_program=1; shift ;;
  --out) out=$2; shift 2 ;;
  --nice) nice_level=$2; shift 2 ;;
  --lm-args) lm_args=$2; shift 2 ;;
  --mc-args) mc_args=$2; shift 2 ;;
  --tls-args) tls_args=$2; shift 2 ;;
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
udp_server_args=()
((udp)) && udp_server_args=(-U -1)
start_servers 4 "$scratch" ${udp_server_args[@]+"${udp_server_args[@]}"} || { cleanup; exit 1; }
plain_servers=$SERVERS
udp_ports=$UDP_PORTS
tls_servers=
if ((tls)); then
  # Their own directory: start_servers keeps each server's port file and log there.
  { make_tls_files "$scratch/tls" && start_servers 4 "$scratch/tls" "${TLS_SERVER_ARGS[@]}"; } ||
    { cleanup; exit 1; }
  tls_servers=$SERVERS
  SERVERS=$plain_servers
fi
trap cleanup EXIT
if [[ -n $out ]]; then
  mkdir -p "$out"
  results=$out
else
  results=$scratch/results
  mkdir -p "$results"
fi

common=(--seconds "$seconds" --warmup "$warmup")
common+=("${extra[@]}")
args=(--servers "$SERVERS" "${common[@]}")
tls_run_args=(--servers "$tls_servers" --tls-ca "$TLS_CA" "${common[@]}")

read -r -a lm_extra <<<"$lm_args"
read -r -a mc_extra <<<"$mc_args"
read -r -a tls_extra <<<"$tls_args"
root=$(cd "$here/.." && pwd)
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$root" --no-optional-locks status --porcelain -- lib include 2>/dev/null) ]]; then
  rev="$rev + uncommitted changes in lib/ include/"
fi
{
  buildtype=$(python3 -c 'import json, sys
print(next(o["value"] for o in json.load(open(sys.argv[1])) if o["name"] == "buildtype"))' \
    "$build/meson-info/intro-buildoptions.json" 2>/dev/null || echo "?")
  echo "memcoro: $rev; $build, buildtype $buildtype"
  echo "memcached: $(${MEMCACHED_BINARY:-memcached} -V) -t 1 x4 on $SERVERS"
  if ((tls)); then
    # What the servers negotiate with a default client (memcoro sets no cipher either).
    negotiated=$(openssl s_client -connect "${tls_servers%%,*}" -CAfile "$TLS_CA" \
      </dev/null 2>/dev/null | sed -n '1,/^New, /s/^New, \(.*\)$/\1/p' || true)
    echo "TLS: 4 more with -Z on $tls_servers; $(openssl version | cut -d' ' -f1-2);" \
      "${negotiated:-negotiated: ?}"
  fi
  echo "cpus: $(nproc), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "rounds: $rounds, ${seconds}s measured + ${warmup}s warm-up per scenario${nice_level:+, nice $nice_level}"
} | tee "$results/info.txt" >&2

failed=0
run_one() { # label, file, command...
  local label=$1 file=$2
  shift 2
  echo "round $r${step:+, $step}: $label" >&2
  if ! ${RUN_PREFIX[@]+"${RUN_PREFIX[@]}"} "$@" >>"$file"; then
    echo "!!! $label failed in round $r${step:+ ($step)} (see above)" >&2
    failed=1
  fi
}
run_round() { # scenario option...
  run_one memcoro "$results/round$r.a.memcoro.jsonl" "$mc_bench" "${args[@]}" "$@" \
    ${mc_extra[@]+"${mc_extra[@]}"}
  run_one libmemcached "$results/round$r.b.libmemcached.jsonl" "$lm_bench" "${args[@]}" "$@" \
    ${lm_extra[@]+"${lm_extra[@]}"}
  if ((threads2)); then
    run_one "memcoro --threads 2" "$results/round$r.c.memcoro-2t.jsonl" "$mc_bench" "${args[@]}" \
      "$@" --threads 2 ${mc_extra[@]+"${mc_extra[@]}"}
  fi
  if ((meta)); then
    run_one "memcoro --protocol meta" "$results/round$r.d.memcoro-meta.jsonl" "$mc_bench" \
      "${args[@]}" "$@" --protocol meta ${mc_extra[@]+"${mc_extra[@]}"}
  fi
  if ((udp)); then
    run_one "memcoro over UDP" "$results/round$r.f.memcoro-udp.jsonl" "$mc_bench" \
      "${args[@]}" "$@" --udp-ports "$udp_ports" ${mc_extra[@]+"${mc_extra[@]}"}
  fi
  if ((tls)); then
    run_one "memcoro over TLS" "$results/round$r.e.memcoro-tls.jsonl" "$mc_bench" \
      "${tls_run_args[@]}" "$@" ${mc_extra[@]+"${mc_extra[@]}"} ${tls_extra[@]+"${tls_extra[@]}"}
  fi
}
if [[ -n $scenario ]]; then
  IFS=, read -r -a scenario_list <<<"$scenario"
else
  scenario_list=(get_seq_1srv get_conc8_1srv get_conc32_1srv get_conc256_1srv mget100_4srv
    mget100_conc8_4srv mget10k_4srv set_seq_1srv set_pipe100_1srv mixed90_conc32_4srv)
fi
for ((r = 1; r <= rounds; r++)); do
  rm -f "$results/round$r".*.jsonl
  if ((per_program)); then
    step=
    run_round ${scenario:+--scenario "$scenario"}
  else
    # Scenario by scenario, so that the programs compared run seconds apart, not minutes:
    # on a shared machine the load drifts.
    for step in "${scenario_list[@]}"; do
      run_round --scenario "$step"
    done
  fi
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results/info.txt" >&2

cat "$results/info.txt"
python3 "$here/aggregate.py" "$results" || failed=1
if ((failed)); then
  echo "some runs failed (errors or replies that did not verify)" >&2
  exit 1
fi
