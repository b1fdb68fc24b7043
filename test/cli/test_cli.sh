#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup and contains are called indirectly (trap, check)
# Tests of the memcoro command-line tool against a memcached this script starts itself.
#
# usage: test_cli.sh PATH/TO/memcoro
# Exit status: 0 all passed, 1 some check failed, 77 skipped (no memcached binary).
# MEMCACHED_BINARY overrides the memcached found on PATH.

set -u

memcoro=${1:?usage: test_cli.sh PATH/TO/memcoro}
case $memcoro in /*) ;; *) memcoro=$PWD/$memcoro ;; esac
if [[ ! -x $memcoro ]]; then
    echo "Bail out! $memcoro is not executable"
    exit 99
fi

memcached=${MEMCACHED_BINARY:-$(command -v memcached || true)}
if [[ -z $memcached || ! -x $memcached ]]; then
    echo "1..0 # SKIP no memcached binary (set MEMCACHED_BINARY)"
    exit 77
fi

tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/memcoro-cli.XXXXXX")
mc_pid=
cleanup() {
    if [[ -n $mc_pid ]]; then
        kill -CONT "$mc_pid" 2>/dev/null
        kill -KILL "$mc_pid" 2>/dev/null
        wait "$mc_pid" 2>/dev/null
    fi
    rm -rf "$tmpdir"
}
trap cleanup EXIT
trap 'exit 2' INT TERM HUP

# -p -1: the kernel chooses a free port, which memcached writes to MEMCACHED_PORT_FILENAME.
mc_args=(-l 127.0.0.1 -p -1 -U 0)
if [[ $(id -u) == 0 ]]; then
    mc_args+=(-u root)
fi
MEMCACHED_PORT_FILENAME=$tmpdir/ports "$memcached" "${mc_args[@]}" </dev/null >"$tmpdir/memcached.log" 2>&1 &
mc_pid=$!
port=
for _ in $(seq 1 1000); do
    if [[ -f $tmpdir/ports ]]; then
        port=$(sed -n 's/^TCP INET: \([0-9][0-9]*\)$/\1/p' "$tmpdir/ports" | head -n 1)
        [[ -n $port ]] && break
    fi
    if ! kill -0 "$mc_pid" 2>/dev/null; then
        echo "Bail out! memcached exited: $(cat "$tmpdir/memcached.log")"
        mc_pid=
        exit 99
    fi
    sleep 0.01
done
if [[ -z $port ]]; then
    echo "Bail out! memcached did not report its port"
    exit 99
fi
server=127.0.0.1:$port
echo "# memcached pid $mc_pid on $server"

# ---- helpers ---------------------------------------------------------------------------------

n=0
failed=0
ok() { # ok DESCRIPTION: pass
    n=$((n + 1))
    echo "ok $n - $1"
}
not_ok() { # not_ok DESCRIPTION DIAGNOSTIC
    n=$((n + 1))
    failed=$((failed + 1))
    echo "not ok $n - $1"
    [[ -n ${2:-} ]] && printf '%s\n' "$2" | sed 's/^/#   /'
}

# mc ARGS...: runs memcoro against our server; sets $out, $err and $rc.
mc() {
    "$memcoro" --servers "$server" "$@" >"$tmpdir/out" 2>"$tmpdir/err" </dev/null
    rc=$?
    out=$(cat "$tmpdir/out")
    err=$(cat "$tmpdir/err")
}
# mc_in INPUT_FILE ARGS...: like mc, with stdin from INPUT_FILE.
mc_in() {
    local input=$1
    shift
    "$memcoro" --servers "$server" "$@" >"$tmpdir/out" 2>"$tmpdir/err" <"$input"
    rc=$?
    out=$(cat "$tmpdir/out")
    err=$(cat "$tmpdir/err")
}

# expect DESCRIPTION RC [STDOUT]: checks the last command's exit code (and its stdout).
expect() {
    local what=$1 want_rc=$2
    if [[ $rc != "$want_rc" ]]; then
        not_ok "$what" "exit $rc, expected $want_rc; stdout: $out; stderr: $err"
    elif [[ $# -ge 3 && $out != "$3" ]]; then
        not_ok "$what" "stdout '$out', expected '$3'; stderr: $err"
    else
        ok "$what"
    fi
}
# check DESCRIPTION COMMAND...: passes when COMMAND succeeds.
check() {
    local what=$1
    shift
    if "$@"; then
        ok "$what"
    else
        not_ok "$what" "failed: $*; exit $rc; stdout: ${out:0:500}; stderr: $err"
    fi
}
contains() { [[ $1 == *"$2"* ]]; }

# ---- set / get -------------------------------------------------------------------------------

mc set greeting "hello world"
expect "set KEY VALUE stores" 0 ""
mc get greeting
expect "get prints the value" 0 "hello world"
"$memcoro" --servers "$server" get greeting >"$tmpdir/raw"
check "get adds no newline" cmp -s "$tmpdir/raw" <(printf 'hello world')
mc get greeting --servers "$server"
expect "options after the command" 0 "hello world"
mc --servers="$server" get greeting
expect "--servers=LIST form" 0 "hello world"

mc get no-such-key
expect "get of a missing key exits 1" 1 ""
check "a miss prints nothing on stderr" test -z "$err"

# ---- the meta protocol -----------------------------------------------------------------------

mc --protocol meta get greeting
expect "--protocol meta: get prints the value" 0 "hello world"
MEMCACHED_PROTOCOL=meta mc get greeting
expect "MEMCACHED_PROTOCOL=meta: get prints the value" 0 "hello world"
mc --protocol=meta get no-such-key
expect "--protocol meta: a miss exits 1" 1 ""
mc get greeting --meta
expect "get --meta exits 0" 0
check "get --meta: a stored-forever item has ttl -1" contains "$out" $'ttl -1\n'
check "get --meta: the value's size" contains "$out" $'size 11\n'
check "get --meta: it was read before" contains "$out" $'hit_before yes\n'
check "get --meta: a CAS unique" grep -Eq '^cas [1-9][0-9]*$' "$tmpdir/out"
check "get --meta: no value printed" test "$(grep -c 'hello' "$tmpdir/out")" = 0
mc set session abc --ttl 100 --flags 9
mc get session --meta
check "get --meta: the remaining TTL" grep -Eq '^ttl (9[0-9]|100)$' "$tmpdir/out"
check "get --meta: the flags" contains "$out" $'flags 9'
check "get --meta: not read before" contains "$out" $'hit_before no\n'
mc get no-such-key --meta
expect "get --meta of a missing key exits 1" 1 ""
mc --protocol text get greeting --meta
expect "--meta with --protocol text is a usage error" 2 ""
check "... that says so" contains "$err" "--meta needs the meta protocol"
mc --protocol auto get greeting
expect "--protocol auto: get prints the value (memcached 1.6.18 speaks meta)" 0 "hello world"
MEMCACHED_PROTOCOL=auto mc get greeting --meta
expect "MEMCACHED_PROTOCOL=auto: get --meta works on a server that speaks meta" 0
check "... and prints the metadata" contains "$out" $'size 11\n'
mc --protocol auto set "auto key" v
expect "--protocol auto: a binary key is stored on a meta server" 0 ""
mc --protocol meta get "auto key"
expect "... and read back on meta" 0 "v"
mc --protocol binary get greeting
expect "an unknown protocol is a usage error" 2 ""
check "... naming it" contains "$err" "unknown protocol 'binary'"
mc set x y --meta
expect "--meta applies to get only" 2 ""
# Every command on the meta protocol, with the text protocol's results.
mc --protocol meta set m1 one
expect "meta: set" 0 ""
mc --protocol meta add m1 two
expect "meta: add on an existing key exits 1" 1 ""
mc --protocol meta append m1 "+"
expect "meta: append" 0 ""
mc --protocol meta prepend m1 "+"
expect "meta: prepend" 0 ""
mc --protocol meta get m1
expect "meta: the value after append and prepend" 0 "+one+"
mc --protocol meta replace m1 5
expect "meta: replace" 0 ""
mc --protocol meta incr m1 10
expect "meta: incr prints the new value" 0 "15"
mc --protocol meta decr m1 20
expect "meta: decr stops at 0" 0 "0"
mc --protocol meta touch m1 60
expect "meta: touch" 0 ""
mc --protocol meta delete m1
expect "meta: delete" 0 ""
mc --protocol meta delete m1
expect "meta: delete of a missing key exits 1" 1 ""
mc --protocol meta set "key with spaces" spaced
expect "meta: a key with spaces is stored (base64 on the wire)" 0 ""
mc --protocol meta get "key with spaces"
expect "meta: ... and read back" 0 "spaced"
mc get "key with spaces"
expect "text: a key with spaces is refused" 2 ""
check "... as an invalid key" contains "$err" "invalid key"
mc --protocol meta version
expect "meta: version (sent as text)" 0
check "... prints the server's version" contains "$out" "1."

head -c 100000 /dev/urandom >"$tmpdir/original"
mc_in "$tmpdir/original" set bin
expect "set from stdin (100000 random bytes)" 0
"$memcoro" --servers "$server" get bin | cmp - "$tmpdir/original" >"$tmpdir/cmp" 2>&1
cmp_rc=$?
if [[ $cmp_rc == 0 ]]; then ok "get returns the binary value byte for byte"; else
    not_ok "get returns the binary value byte for byte" "$(cat "$tmpdir/cmp")"
fi
printf 'a\0b\r\nEND\r\n' >"$tmpdir/tricky"
mc_in "$tmpdir/tricky" set tricky
"$memcoro" --servers "$server" get tricky | cmp -s - "$tmpdir/tricky"
cmp_rc=$?
if [[ $cmp_rc == 0 ]]; then ok "NUL, CR LF and END lines survive"; else
    not_ok "NUL, CR LF and END lines survive" "cmp exit $cmp_rc"
fi
: >"$tmpdir/empty"
mc_in "$tmpdir/empty" set empty
expect "set of an empty value from stdin" 0
mc get empty
expect "get of the empty value is a hit" 0 ""

# ---- add / replace / append / prepend ------------------------------------------------------

mc add greeting other
expect "add on an existing key exits 1" 1 ""
mc get greeting
expect "add did not overwrite" 0 "hello world"
mc add fresh new
expect "add on a new key stores" 0
mc replace nothing x
expect "replace on a missing key exits 1" 1
mc replace fresh newer
expect "replace on an existing key stores" 0
mc append fresh "-tail"
expect "append" 0
mc prepend fresh "head-"
expect "prepend" 0
mc get fresh
expect "append and prepend compose" 0 "head-newer-tail"
mc set dashes -- --not-an-option
expect "-- ends the options" 0
mc get dashes
expect "  ... the value after -- is stored" 0 "--not-an-option"
mc append nothing x
expect "append on a missing key exits 1" 1
mc set fresh v --ttl 100 --flags 7
expect "set with --ttl and --flags" 0
mc append fresh x --ttl 5
expect "--ttl with append is a usage error" 2
check "  ... with a message" contains "$err" "--ttl"

# ---- incr / decr / delete / touch ------------------------------------------------------------

mc set counter 10
mc incr counter 5
expect "incr prints the new value" 0 "15"
mc decr counter 20
expect "decr stops at 0" 0 "0"
mc incr no-counter 1
expect "incr of a missing key exits 1" 1 ""
mc incr counter many
expect "incr with a bad number exits 2" 2
mc incr greeting 1
expect "incr of a non-numeric value exits 2" 2
check "  ... naming the server" contains "$err" "$server"

mc delete greeting
expect "delete" 0
mc get greeting
expect "deleted key is gone" 1
mc delete greeting
expect "delete of a missing key exits 1" 1

mc set short v
mc touch short 100
expect "touch an existing key" 0
mc touch none 100
expect "touch a missing key exits 1" 1
mc touch short -1
expect "touch with a negative TTL" 0
mc get short
expect "the item expired at once" 1

mc set brief v --ttl -1
expect "set --ttl -1" 0
mc get brief
expect "a negative --ttl expires at once" 1

# ---- server-wide commands --------------------------------------------------------------------

mc stats
expect "stats exits 0" 0
check "stats prints 'pid <memcached pid>'" grep -qx "pid $mc_pid" "$tmpdir/out"
check "stats prints name value lines" grep -q '^curr_connections [0-9]' "$tmpdir/out"
mc stats settings
expect "stats GROUP" 0
check "stats settings has maxbytes" grep -q '^maxbytes ' "$tmpdir/out"
mc stats --json
expect "stats --json exits 0" 0
check "stats --json is valid JSON" python3 -c 'import json,sys; json.load(sys.stdin)' <"$tmpdir/out"
check "stats --json maps the server to its stats" python3 -c '
import json, sys
d = json.load(sys.stdin)
assert list(d) == [sys.argv[1]], d.keys()
assert d[sys.argv[1]]["pid"] == sys.argv[2]
' "$server" "$mc_pid" <"$tmpdir/out"

mc version
expect "version exits 0" 0
check "version prints a version number" grep -Eq '^[0-9]+\.[0-9]+' "$tmpdir/out"

mc set doomed v
mc flush
expect "flush" 0 ""
mc get doomed
expect "flush removed the items" 1
mc set later v
mc flush 30 # memcached counts the delay in whole seconds from its own clock tick: leave room
expect "flush DELAY" 0
mc get later
expect "flush DELAY leaves items until the delay" 0 "v"
mc flush # replaces the pending delayed flush, which would eat the items set below

# ---- environment and server lists ----------------------------------------------------------

"$memcoro" set env-key from-env --servers "$server" >/dev/null
out=$(MEMCACHED_SERVERS=$server "$memcoro" get env-key 2>"$tmpdir/err")
rc=$?
err=$(cat "$tmpdir/err")
expect "MEMCACHED_SERVERS is used" 0 "from-env"
out=$(MEMCACHED_SERVERS=127.0.0.1:1 "$memcoro" --servers "$server" get env-key 2>"$tmpdir/err")
rc=$?
err=$(cat "$tmpdir/err")
expect "--servers wins over MEMCACHED_SERVERS" 0 "from-env"
out=$(MEMCACHED_SERVERS=127.0.0.1:1 "$memcoro" get env-key 2>"$tmpdir/err")
rc=$?
err=$(cat "$tmpdir/err")
expect "a dead server from MEMCACHED_SERVERS exits 2" 2
check "  ... naming it" contains "$err" "127.0.0.1:1"

mc --servers "$server,$server" stats --json
expect "stats over a two-entry list" 0
check "  ... is valid JSON" python3 -c 'import json,sys; json.load(sys.stdin)' <"$tmpdir/out"

# ---- errors ----------------------------------------------------------------------------------

mc get "a b"
expect "an invalid key exits 2" 2 ""
check "  ... stderr says invalid key" contains "$err" "invalid key"
check "  ... in one line starting with memcoro:" test "$(wc -l <"$tmpdir/err")" = 1 -a "${err:0:9}" = "memcoro: "
mc set "$(printf 'x%.0s' $(seq 1 251))" v
expect "a 251-byte key exits 2" 2
check "  ... stderr says invalid key" contains "$err" "invalid key"
"$memcoro" --servers 127.0.0.1:1 get "a b" >/dev/null 2>"$tmpdir/err"
rc=$?
err=$(cat "$tmpdir/err")
check "an invalid key is refused before connecting" test "$rc" = 2
check "  ... with the key error, not a connection error" contains "$err" "invalid key"

"$memcoro" --servers 127.0.0.1:1 get k >"$tmpdir/out" 2>"$tmpdir/err"
rc=$?
out=$(cat "$tmpdir/out")
err=$(cat "$tmpdir/err")
expect "connection refused exits 2" 2 ""
check "  ... stderr names 127.0.0.1:1" contains "$err" "127.0.0.1:1"
check "  ... and the cause" contains "$err" "connection failed"

mc frobnicate
expect "an unknown command exits 2" 2
check "  ... with a message" contains "$err" "frobnicate"
mc get --bogus k
expect "an unknown option exits 2" 2
check "  ... with a message" contains "$err" "--bogus"
mc get
expect "a missing argument exits 2" 2
check "  ... with a message" contains "$err" "missing"
mc get a b
expect "too many arguments exits 2" 2
mc stats --servers
expect "an option without its value exits 2" 2
mc --timeout 0 version
expect "--timeout 0 is refused" 2
"$memcoro" >/dev/null 2>"$tmpdir/err"
rc=$?
check "no command exits 2" test "$rc" = 2

# A server that accepts but never answers: the operation times out.
mc set alive yes
kill -STOP "$mc_pid"
start=$(date +%s%N)
mc --timeout 300 get greeting
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
kill -CONT "$mc_pid"
expect "an unresponsive server times out with exit 2" 2
check "  ... stderr names the server and the timeout" contains "$err" "$server: operation timed out"
check "  ... after about --timeout ms (${elapsed_ms} ms)" test "$elapsed_ms" -lt 3000
mc get alive
expect "the server answers again" 0 "yes"

# ---- help and version ----------------------------------------------------------------------

"$memcoro" --help >"$tmpdir/out" 2>"$tmpdir/err"
rc=$?
out=$(cat "$tmpdir/out")
check "--help exits 0" test "$rc" = 0
missing=
for cmd in get set add replace append prepend delete incr decr touch flush version stats locate help; do
    grep -Eq "^  $cmd( |\$)" "$tmpdir/out" || missing+=" $cmd"
    grep -Eq "^ +memcoro $cmd( |\$)" "$tmpdir/out" || missing+=" $cmd(example)"
done
check "--help documents every command with an example${missing:+ (missing:$missing)}" test -z "$missing"
check "--help documents the exit codes and MEMCACHED_SERVERS" \
    grep -q MEMCACHED_SERVERS "$tmpdir/out"
"$memcoro" help >"$tmpdir/help2" 2>/dev/null
check "memcoro help prints the same text" cmp -s "$tmpdir/out" "$tmpdir/help2"
"$memcoro" --version >"$tmpdir/out" 2>/dev/null
rc=$?
check "--version" grep -Eq '^memcoro [0-9]' "$tmpdir/out"

# ---- locate ----------------------------------------------------------------------------------

printf 'user:1\nuser:2\n' >"$tmpdir/keys"
mc_in "$tmpdir/keys" locate --distribution ketama
expect "locate uses the global --servers" 0 "$server
$server"
"$memcoro" locate --help >"$tmpdir/out" 2>&1
rc=$?
check "locate --help" test "$rc" = 0

# Other clients' spellings of a distribution: the ring (and key hash) they stand for.
for i in $(seq 1 200); do echo "alias:$i"; done >"$tmpdir/akeys"
five="127.0.0.1:22201,127.0.0.1:22202,127.0.0.1:22203,127.0.0.1:22204,127.0.0.1:22205"
place() { # place OUTPUT ARGS...: locate the 200 keys over the five servers
    local output=$1
    shift
    "$memcoro" locate --servers "$five" "$@" <"$tmpdir/akeys" >"$tmpdir/$output" 2>"$tmpdir/err"
}
place consistent --distribution consistent
place ketama --distribution ketama
place alias1 --distribution MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA
check "locate: MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA is consistent" \
    cmp -s "$tmpdir/alias1" "$tmpdir/consistent"
moved=$(paste -d' ' "$tmpdir/consistent" "$tmpdir/ketama" | awk '$1 != $2' | wc -l)
check "locate: ... and not ketama ($moved of 200 keys elsewhere)" test "$moved" -gt 120
place alias2 --distribution memcached_behavior_ketama
check "locate: memcached_behavior_ketama (any case) is consistent" \
    cmp -s "$tmpdir/alias2" "$tmpdir/consistent"
place alias3 --distribution Memcached::OPT_LIBKETAMA_COMPATIBLE
check "locate: Memcached::OPT_LIBKETAMA_COMPATIBLE is ketama" cmp -s "$tmpdir/alias3" "$tmpdir/ketama"
place oaat --distribution ketama --hash one-at-a-time
place alias4 --distribution MEMCACHED_DISTRIBUTION_CONSISTENT_WEIGHTED
check "locate: CONSISTENT_WEIGHTED is ketama with one-at-a-time keys" \
    cmp -s "$tmpdir/alias4" "$tmpdir/oaat"
place fnv --distribution ketama --hash fnv1a_32
place alias5 --distribution MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED --hash MEMCACHED_HASH_FNV1A_32
check "locate: --hash replaces the hash a distribution spelling stands for" \
    cmp -s "$tmpdir/alias5" "$tmpdir/fnv"
"$memcoro" locate --servers "$five" --distribution MEMCACHED_DISTRIBUTION_RANDOM \
    <"$tmpdir/akeys" >"$tmpdir/out" 2>"$tmpdir/err"
rc=$?
err=$(cat "$tmpdir/err")
check "locate: MEMCACHED_DISTRIBUTION_RANDOM is refused" \
    contains "$rc $err" "2 memcoro locate: unknown distribution 'MEMCACHED_DISTRIBUTION_RANDOM'"
mc --distribution MEMCACHED_DISTRIBUTION_RANDOM get k
expect "--distribution MEMCACHED_DISTRIBUTION_RANDOM is refused" 2
check "  ... with a message" contains "$err" "unknown distribution 'MEMCACHED_DISTRIBUTION_RANDOM'"

# Commands route keys exactly as locate says: with a live and a dead server, a key that locate
# puts on the live one is stored (exit 0), one it puts on the dead one fails naming it (exit 2).
for i in $(seq 1 16); do echo "$i:route:$((i * 7919))"; done >"$tmpdir/rkeys"
pair="$server,127.0.0.1:1"
for dist in ketama modula consistent pecl-consistent pecl-standard twemproxy-ketama \
    MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA MEMCACHED_DISTRIBUTION_CONSISTENT_WEIGHTED \
    Memcached::OPT_LIBKETAMA_COMPATIBLE; do
    "$memcoro" --servers "$pair" locate --distribution "$dist" <"$tmpdir/rkeys" >"$tmpdir/placed" 2>/dev/null
    bad=""
    live=0
    while IFS= read -r key && IFS= read -r owner <&3; do
        "$memcoro" --servers "$pair" --distribution "$dist" --timeout 500 set "$key" v \
            >/dev/null 2>"$tmpdir/rerr"
        r=$?
        if [[ $owner == "$server" ]]; then
            live=$((live + 1))
            [[ $r == 0 ]] || bad+=" $key(exit $r)"
        else
            [[ $r == 2 ]] && grep -q "127.0.0.1:1" "$tmpdir/rerr" || bad+=" $key(exit $r)"
        fi
    done <"$tmpdir/rkeys" 3<"$tmpdir/placed"
    check "set routes keys where locate says ($dist, $live of 16 on the live server)${bad:+:$bad}" \
        test -z "$bad" -a "$live" -gt 0 -a "$live" -lt 16
done

echo "1..$n"
if [[ $failed != 0 ]]; then
    echo "# $failed of $n checks failed"
    exit 1
fi
echo "# all $n checks passed"
exit 0
