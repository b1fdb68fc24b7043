# Sourced by bench/run.sh and bench/callgrind.sh: starts memcached servers on kernel-chosen
# loopback ports and stops them on exit (also on errors and signals).
#
#   start_servers N DIR   sets SERVERS ("127.0.0.1:PORT,...") and SERVER_PIDS
#   stop_servers          kills them (installed as an EXIT trap by start_servers)
#
# RUN_PREFIX (an array, e.g. (nice -n -10)) is put before the memcached command.

SERVER_PIDS=()
SERVERS=
RUN_PREFIX=(${RUN_PREFIX[@]+"${RUN_PREFIX[@]}"})

stop_servers() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SERVER_PIDS=()
}

start_servers() { # count, scratch dir
  local n=$1 dir=$2 i port line deadline
  local bin=${MEMCACHED_BINARY:-$(command -v memcached || true)}
  if [[ -z $bin ]]; then
    echo "memcached not found (apt-get install memcached, or set MEMCACHED_BINARY)" >&2
    return 1
  fi
  local user_args=()
  [[ $(id -u) == 0 ]] && user_args=(-u root)
  trap 'stop_servers' EXIT
  trap 'exit 130' INT TERM
  local ports=()
  for ((i = 0; i < n; i++)); do
    mkdir -p "$dir/server$i"
    rm -f "$dir/server$i/ports"
    # -p -1: the kernel picks a free port, which memcached writes to MEMCACHED_PORT_FILENAME.
    MEMCACHED_PORT_FILENAME="$dir/server$i/ports" \
      ${RUN_PREFIX[@]+"${RUN_PREFIX[@]}"} "$bin" -l 127.0.0.1 -p -1 -U 0 -t 1 -c 4096 -m 256 "${user_args[@]}" \
      </dev/null >"$dir/server$i/log" 2>&1 &
    SERVER_PIDS+=($!)
  done
  for ((i = 0; i < n; i++)); do
    port=
    deadline=$((SECONDS + 10))
    while [[ -z $port ]] && ((SECONDS < deadline)); do
      if [[ -f $dir/server$i/ports ]]; then
        while read -r line; do
          [[ $line == "TCP INET: "* ]] && port=${line#TCP INET: }
        done <"$dir/server$i/ports"
      fi
      if [[ -z $port ]]; then
        if ! kill -0 "${SERVER_PIDS[$i]}" 2>/dev/null; then
          echo "memcached $i exited: $(cat "$dir/server$i/log")" >&2
          return 1
        fi
        sleep 0.02
      fi
    done
    if [[ -z $port ]]; then
      echo "memcached $i did not report its port" >&2
      return 1
    fi
    ports+=("127.0.0.1:$port")
  done
  SERVERS=$(IFS=,; echo "${ports[*]}")
}
