#!/usr/bin/env bash
# The README's example (built from README.md): it ends by itself, and it either works (a
# memcached on 127.0.0.1:11211) or says why not and exits non-zero. It never exits 0 in silence.
#
# usage: test_readme.sh PATH/TO/readme
set -u
readme=${1:?usage: test_readme.sh PATH/TO/readme}
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
timeout 20 "$readme" >"$out" 2>"$err"
rc=$?
echo "# exit $rc; stdout: $(tr '\n' '|' <"$out") stderr: $(tr '\n' '|' <"$err")"
if [[ $rc == 124 ]]; then
    echo "not ok 1 - the example did not end (io_context::run() never returned)"
    exit 1
fi
if [[ $rc == 0 ]]; then
    if grep -qx hello "$out" && grep -q 'hit(s), counter' "$out"; then
        echo "ok 1 - with a server on 127.0.0.1:11211 the example prints what it read"
        exit 0
    fi
    echo "not ok 1 - exit 0 without the expected output"
    exit 1
fi
if [[ $rc == 1 ]] && grep -q '^127\.0\.0\.1:11211: ' "$err"; then
    echo "ok 1 - without a server the example reports the failure, naming the server, and exits 1"
    exit 0
fi
echo "not ok 1 - exit $rc, expected 0 with output or 1 with a message naming the server"
exit 1
