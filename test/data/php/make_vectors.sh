#!/usr/bin/env bash
# Regenerates the vectors of this directory: starts a memcached on a port the kernel chooses,
# runs make_vectors.php against it (php-cli, php-memcached, php-memcache), stops the memcached.
# Usage: test/data/php/make_vectors.sh [OUTDIR]   (default: this directory)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
user_args=()
if [ "$(id -u)" -eq 0 ]; then user_args=(-u root); fi
MEMCACHED_PORT_FILENAME="$tmp/ports" memcached -l 127.0.0.1 -p -1 -U 0 "${user_args[@]}" &
pid=$!
for _ in $(seq 100); do
  if [ -s "$tmp/ports" ] && grep -q 'TCP INET' "$tmp/ports"; then break; fi
  sleep 0.05
done
port=$(sed -n 's/^TCP INET: //p' "$tmp/ports" | head -n1)
php "$here/make_vectors.php" "$port" "$out"
