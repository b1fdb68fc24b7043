#!/usr/bin/env bash
# A herd on one missing key, three ways (bench/herd.cpp): a plain get-then-set,
# async_get_or_compute on the text protocol, and on the meta protocol. Starts its own
# memcached on a kernel-chosen loopback port; prints one CSV line per mode and round.
#
#   bench/herd.sh BUILD_DIR [herd options: --callers N --clients N --compute-ms MS --rounds N]
#
# BUILD_DIR is a build configured with -Dbench=enabled. Exits non-zero if a caller failed or
# the meta protocol's herd computed more than once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: bench/herd.sh BUILD_DIR [herd options]}
shift
bin=$build/bench/herd
[[ -x $bin ]] || { echo "$bin not found: configure the build with -Dbench=enabled" >&2; exit 2; }
scratch=$build/herd-servers
# shellcheck source=bench/servers.sh
source "$here/servers.sh"
start_servers 1 "$scratch"
"$bin" --server "$SERVERS" "$@"
