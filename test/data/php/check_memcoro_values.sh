#!/usr/bin/env bash
# Checks that the PHP clients read the values memcoro writes: runs WRITER (the test program
# write_php_values, or write_php_typed_values) into a temporary directory, starts a memcached on
# a port the kernel chooses, and runs CHECKER (check_memcoro_values.php by default, or
# check_memcoro_typed_values.php) against it. Exits 77 (skipped) without php, php-memcached (and
# PECL memcache for the typed values) or memcached.
# Usage: check_memcoro_values.sh WRITER [CHECKER]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
writer=$1
checker=${2:-$here/check_memcoro_values.php}
classes='class_exists("Memcached")'
case "$checker" in
*typed*) classes="$classes && class_exists(\"Memcache\")" ;;
esac
if ! command -v php >/dev/null || ! php -r "exit($classes ? 0 : 1);" ||
  ! command -v "${MEMCACHED_BINARY:-memcached}" >/dev/null; then
  echo "php, php-memcached, php-memcache or memcached not installed: skipped"
  exit 77
fi
tmp=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
"$writer" "$tmp"
user_args=()
if [ "$(id -u)" -eq 0 ]; then user_args=(-u root); fi
MEMCACHED_PORT_FILENAME="$tmp/ports" "${MEMCACHED_BINARY:-memcached}" -l 127.0.0.1 -p -1 -U 0 \
  "${user_args[@]}" &
pid=$!
for _ in $(seq 100); do
  if [ -s "$tmp/ports" ] && grep -q 'TCP INET' "$tmp/ports"; then break; fi
  sleep 0.05
done
port=$(sed -n 's/^TCP INET: //p' "$tmp/ports" | head -n1)
php "$checker" "$port" "$tmp"
