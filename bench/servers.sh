# Sourced by bench/run.sh, callgrind.sh, server_cpu.sh and herd.sh: starts memcached servers on
# kernel-chosen loopback ports and stops them on exit (also on errors and signals).
#
#   start_servers N DIR [ARG...]  sets SERVERS ("127.0.0.1:PORT,...": this call's servers) and
#                                 adds their pids to SERVER_PIDS; ARGs are added to memcached's
#                                 command line (e.g. TLS_SERVER_ARGS). Each call its own DIR.
#                                 With -U -1 among the ARGs, UDP_PORTS: their UDP ports, in the
#                                 same order ("PORT,...").
#   make_tls_files DIR            a CA and a server certificate for IP:127.0.0.1 (EC P-256) in
#                                 DIR: sets TLS_CA (DIR/ca.crt) and TLS_SERVER_ARGS (-Z -o ...)
#   stop_servers                  kills them all (installed as an EXIT trap by start_servers)
#
# RUN_PREFIX (an array, e.g. (nice -n -10)) is put before the memcached command.

# shellcheck disable=SC2034 # (SERVERS, TLS_CA, TLS_SERVER_ARGS: for the scripts that source this)
SERVER_PIDS=()
SERVERS=
UDP_PORTS=
RUN_PREFIX=(${RUN_PREFIX[@]+"${RUN_PREFIX[@]}"})

stop_servers() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SERVER_PIDS=()
}

start_servers() { # count, scratch dir, extra memcached arguments...
  local n=$1 dir=$2 i port line deadline
  shift 2
  local first=${#SERVER_PIDS[@]}
  local bin=${MEMCACHED_BINARY:-$(command -v memcached || true)}
  if [[ -z $bin ]]; then
    echo "memcached not found (apt-get install memcached, or set MEMCACHED_BINARY)" >&2
    return 1
  fi
  local user_args=()
  [[ $(id -u) == 0 ]] && user_args=(-u root)
  trap 'stop_servers' EXIT
  trap 'exit 130' INT TERM
  local ports=() udp_ports=() want_udp=0 udp a
  for a in "$@"; do [[ $a == -U ]] && want_udp=1; done
  for ((i = 0; i < n; i++)); do
    mkdir -p "$dir/server$i"
    rm -f "$dir/server$i/ports"
    # -p -1: the kernel picks a free port, which memcached writes to MEMCACHED_PORT_FILENAME.
    MEMCACHED_PORT_FILENAME="$dir/server$i/ports" \
      ${RUN_PREFIX[@]+"${RUN_PREFIX[@]}"} "$bin" -l 127.0.0.1 -p -1 -U 0 -t 1 -c 4096 -m 256 "${user_args[@]}" \
      "$@" </dev/null >"$dir/server$i/log" 2>&1 &
    SERVER_PIDS+=($!)
  done
  for ((i = 0; i < n; i++)); do
    port=
    udp=
    deadline=$((SECONDS + 10))
    while { [[ -z $port ]] || { ((want_udp)) && [[ -z $udp ]]; }; } && ((SECONDS < deadline)); do
      if [[ -f $dir/server$i/ports ]]; then
        while read -r line; do
          [[ $line == "TCP INET: "* ]] && port=${line#TCP INET: }
          [[ $line == "UDP INET: "* ]] && udp=${line#UDP INET: }
        done <"$dir/server$i/ports"
      fi
      if [[ -z $port ]] || { ((want_udp)) && [[ -z $udp ]]; }; then
        if ! kill -0 "${SERVER_PIDS[$((first + i))]}" 2>/dev/null; then
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
    udp_ports+=("$udp")
  done
  SERVERS=$(IFS=,; echo "${ports[*]}")
  UDP_PORTS=$(IFS=,; echo "${udp_ports[*]}")
}

TLS_CA=
TLS_SERVER_ARGS=()

make_tls_files() { # dir
  local dir=$1
  if ! command -v openssl >/dev/null; then
    echo "openssl not found (apt-get install openssl)" >&2
    return 1
  fi
  local help
  help=$("${MEMCACHED_BINARY:-memcached}" -h 2>/dev/null || true) # (not piped: grep -q, pipefail)
  if [[ $help != *--enable-ssl* ]]; then
    echo "this memcached was built without TLS (no -Z)" >&2
    return 1
  fi
  mkdir -p "$dir"
  printf '%s\n' '[req]' 'distinguished_name = dn' '[dn]' '[ca]' \
    'basicConstraints = critical, CA:TRUE' 'keyUsage = critical, keyCertSign, cRLSign' \
    'subjectKeyIdentifier = hash' >"$dir/req.cnf"
  printf '%s\n' 'subjectAltName = IP:127.0.0.1' 'basicConstraints = CA:FALSE' \
    'extendedKeyUsage = serverAuth' >"$dir/server.ext"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  if ! {
    openssl req -x509 "${ec[@]}" -config "$dir/req.cnf" -extensions ca \
      -subj "/CN=memcoro bench CA" -days 2 -keyout "$dir/ca.key" -out "$dir/ca.crt" &&
      openssl req "${ec[@]}" -config "$dir/req.cnf" -subj "/CN=127.0.0.1" \
        -keyout "$dir/server.key" -out "$dir/server.csr" &&
      openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
        -set_serial 2 -days 2 -extfile "$dir/server.ext" -out "$dir/server.crt" &&
      openssl verify -CAfile "$dir/ca.crt" "$dir/server.crt"
  } >"$dir/openssl.log" 2>&1; then
    echo "openssl could not make the certificates:" >&2
    cat "$dir/openssl.log" >&2
    return 1
  fi
  TLS_CA=$dir/ca.crt
  TLS_SERVER_ARGS=(-Z -o "ssl_chain_cert=$dir/server.crt,ssl_key=$dir/server.key")
}
