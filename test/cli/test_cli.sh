#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup and contains are called indirectly (trap, check)
# Tests of the memcoro command-line tool against a memcached this script starts itself.
#
# usage: test_cli.sh PATH/TO/memcoro
# Exit status: 0 all passed, 1 some check failed, 77 skipped (no memcached binary).
# MEMCACHED_BINARY overrides the memcached found on PATH.

set -u
# The tests give the servers, the protocol and the credentials themselves.
unset MEMCACHED_SERVERS MEMCACHED_PROTOCOL MEMCACHED_USERNAME MEMCACHED_PASSWORD MEMCACHED_PASSWORD_FILE MEMCACHED_PREFIX

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
extra_pids=() # the other memcacheds (TLS, authentication), started by start_memcached
cleanup() {
    local pid
    for pid in "$mc_pid" ${extra_pids[@]+"${extra_pids[@]}"}; do
        [[ -n $pid ]] || continue
        kill -CONT "$pid" 2>/dev/null
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
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
mc touch a 1 2
expect "too many arguments exits 2" 2
check "  ... with the usage" contains "$err" "usage: memcoro touch KEY TTL"
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

# locate --down: where keys go while servers are down, under each distribution's fleet rule.
# (Keys that differ in more than their last digits: twemproxy's 32-bit FNV-1a of "alias:1",
# "alias:2", ... takes few values modulo 5.)
for i in $(seq 1 300); do echo "down:$((i * 7919 % 10007))/$i"; done >"$tmpdir/dkeys"
dplace() { # dplace OUTPUT ARGS...: locate those keys over the five servers
    local output=$1
    shift
    "$memcoro" locate --servers "$five" "$@" <"$tmpdir/dkeys" >"$tmpdir/$output" 2>"$tmpdir/err"
}
down2=127.0.0.1:22202
for dist in pecl-consistent pecl-standard modula ketama twemproxy-modula; do
    dplace "up-$dist" --distribution "$dist"
    dplace "down-$dist" --distribution "$dist" --down "$down2"
    # Keys whose own server is live, and where they are with 22202 down.
    paste -d' ' "$tmpdir/up-$dist" "$tmpdir/down-$dist" | awk -v d="$down2" '$1 != d' >"$tmpdir/live-$dist"
    paste -d' ' "$tmpdir/up-$dist" "$tmpdir/down-$dist" | awk -v d="$down2" '$1 == d {print $2}' >"$tmpdir/dead-$dist"
done
for dist in pecl-consistent pecl-standard modula; do
    check "locate --down ($dist): keys of live servers stay" \
        test "$(awk '$1 != $2' "$tmpdir/live-$dist" | wc -l)" = 0
done
for dist in pecl-consistent pecl-standard ketama twemproxy-modula; do
    check "locate --down ($dist): the down server's keys go to live servers ($(wc -l <"$tmpdir/dead-$dist"))" \
        test -s "$tmpdir/dead-$dist" -a "$(grep -cxE -- "-|$down2" "$tmpdir/dead-$dist")" = 0
done
check "locate --down (modula): the down server's keys fail, printed -" \
    test -s "$tmpdir/dead-modula" -a "$(sort -u "$tmpdir/dead-modula")" = "-"
check "locate --down (ketama, equal weights): keys of live servers stay" \
    test "$(awk '$1 != $2' "$tmpdir/live-ketama" | wc -l)" = 0
check "locate --down (twemproxy-modula): most keys of live servers move" \
    test "$(awk '$1 != $2' "$tmpdir/live-twemproxy-modula" | wc -l)" -gt 120
dplace down-two --distribution pecl-consistent --down "$down2,127.0.0.1:22205"
check "locate --down A,B: neither is used" test "$(grep -cxE '127.0.0.1:2220[25]' "$tmpdir/down-two")" = 0
dplace down-all --distribution ketama --down "$five"
check "locate --down (every server): every key fails" test "$(sort -u "$tmpdir/down-all")" = "-"
printf 'k1\nk2\n' | "$memcoro" locate --servers "a:1 alpha,b:2 beta" --distribution modula --down beta --json \
    >"$tmpdir/out" 2>"$tmpdir/err"
check "locate --down NAME --json: a failed key's server is null" python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 2 and {r["server"] for r in rows} <= {"alpha", None} and None in [r["server"] for r in rows], rows
' "$tmpdir/out"
"$memcoro" locate --servers "$five" --down 127.0.0.1:9 <"$tmpdir/akeys" >"$tmpdir/out" 2>"$tmpdir/err"
rc=$?
err=$(cat "$tmpdir/err")
check "locate --down: a server not in the list is refused" \
    contains "$rc $err" "2 memcoro locate: --down: 127.0.0.1:9 is not one of the servers"
mc --down "$server" get k
expect "--down applies to locate only" 2
check "  ... with a message" contains "$err" "--down applies to locate, not get"
# The server-down vectors recorded from the real clients, through the command line.
compat=$(cd "$(dirname "${BASH_SOURCE[0]}")/../data/compat" && pwd)
bad=
for f in pecl_memcache_consistent_crc32_w12312_down22205 pecl_memcache_standard_crc32_down22202 \
    libmemcached_modula_oaat_down22202 libmemcached_ketama_weighted_md5_w12312_down22205 \
    twemproxy_ketama_md5_down22202 twemproxy_modula_fnv1a_64_down22205; do
    python3 - "$compat/$f.public.json" "$tmpdir/vkeys" "$tmpdir/vwant" "$tmpdir/vargs" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
names = {"pecl_memcache_consistent_crc32": "pecl-consistent", "pecl_memcache_standard_crc32": "pecl-standard",
         "libmemcached_modula_oaat": "modula", "libmemcached_ketama_weighted_md5": "ketama",
         "twemproxy_ketama_md5": "twemproxy-ketama", "twemproxy_modula_fnv1a_64": "twemproxy-modula"}
base = d["all_up_config_id"].removesuffix("_w12312")
hashes = {"twemproxy-ketama": "md5"}
srv = d["servers"]
label = lambda s: f'{s["host"]}:{s["port"]}'
keys = [k for k, _ in d["mapping"]] + d.get("failed_keys", [])
want = [label(srv[i]) for _, i in d["mapping"]] + ["-"] * len(d.get("failed_keys", []))
open(sys.argv[2], "wb").write(b"".join(k.encode() + b"\n" for k in keys))
open(sys.argv[3], "w").write("".join(w + "\n" for w in want))
args = ["--servers", ",".join(f'{label(s)}:{s["weight"]}' for s in srv), "--distribution", names[base],
        "--down", f'{d["down"]["host"]}:{d["down"]["port"]}']
if names[base] in hashes:
    args += ["--hash", hashes[names[base]]]
open(sys.argv[4], "w").write("\n".join(args) + "\n")
PY
    mapfile -t vargs <"$tmpdir/vargs"
    "$memcoro" locate "${vargs[@]}" <"$tmpdir/vkeys" >"$tmpdir/vgot" 2>"$tmpdir/err" || bad+=" $f(exit)"
    cmp -s "$tmpdir/vgot" "$tmpdir/vwant" || bad+=" $f($(paste -d' ' "$tmpdir/vgot" "$tmpdir/vwant" | awk '$1 != $2' | wc -l) differ)"
done
check "locate --down reproduces the server-down vectors${bad:+:$bad}" test -z "$bad"

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

# ---- the libmemcached tools' jobs: get K..., gets/cas, rm, exist, ping, cp, dump -------------

mc flush
mc set k1 one --flags 5
mc set k2 "two words"
printf 'x\0\377y\n' >"$tmpdir/nul"
mc_in "$tmpdir/nul" set k3
"$memcoro" --servers "$server" get k1 k2 k3 >"$tmpdir/out" 2>"$tmpdir/err"
rc=$?
check "get K...: every key found exits 0" test "$rc" = 0
printf 'VALUE k1 5 3\none\nVALUE k2 0 9\ntwo words\nVALUE k3 0 5\nx\0\377y\n\n' >"$tmpdir/want"
check "get K...: each value after a VALUE KEY FLAGS BYTES line, byte for byte" \
    cmp -s "$tmpdir/out" "$tmpdir/want"
mc get k2 nothing k1
expect "get K...: a missing key exits 1, the hits are printed in order" 1 "VALUE k2 0 9
two words
VALUE k1 5 3
one"
check "  ... nothing on stderr" test -z "$err"
mc get nothing1 nothing2
expect "get K...: every key missing exits 1, prints nothing" 1 ""
mc get k1 k2 k3 nothing --json
expect "get K... --json exits 1 with a miss" 1
check "get K... --json: hits (value, flags), misses, base64 for non-UTF-8 bytes" python3 -c '
import json, sys, base64
d = json.load(sys.stdin)
assert d["hits"][0] == {"key": "k1", "value": "one", "flags": 5}, d
assert d["hits"][1]["value"] == "two words", d
assert base64.b64decode(d["hits"][2]["value_base64"]) == b"x\0\xffy\n", d
assert "value" not in d["hits"][2], d
assert d["misses"] == ["nothing"] and d["errors"] == [], d
' <"$tmpdir/out"
mc get k1 --json
expect "get KEY --json: one key" 0
check "  ... the same object" python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d == {"hits": [{"key": "k1", "value": "one", "flags": 5}], "misses": [], "errors": []}, d
' <"$tmpdir/out"
mc get k1 k2 --meta
expect "get --meta takes one key" 2

# A key on a dead server: named on stderr with exit 2, the others still printed.
for i in $(seq 1 40); do echo "split:$i"; done >"$tmpdir/skeys"
"$memcoro" --servers "$server,127.0.0.1:1" locate <"$tmpdir/skeys" >"$tmpdir/sowners"
live_key=$(paste -d' ' "$tmpdir/skeys" "$tmpdir/sowners" | awk -v s="$server" '$2 == s {print $1; exit}')
dead_key=$(paste -d' ' "$tmpdir/skeys" "$tmpdir/sowners" | awk '$2 == "127.0.0.1:1" {print $1; exit}')
mc set "$live_key" alive
mc --servers "$server,127.0.0.1:1" --timeout 500 get "$live_key" "$dead_key"
expect "get K...: a key whose server is down exits 2" 2 "VALUE $live_key 0 5
alive"
check "  ... naming the server and the key on stderr" contains "$err" "127.0.0.1:1: "
check "  ... (the key)" contains "$err" "$dead_key"

mc gets k1
expect "gets KEY exits 0" 0
check "gets: VALUE KEY FLAGS BYTES CAS, then the value" \
    grep -Eqx 'VALUE k1 5 3 [1-9][0-9]*' <(head -n 1 "$tmpdir/out")
check "  ... the value on the next line" test "$(sed -n 2p "$tmpdir/out")" = one
cas=$(head -n 1 "$tmpdir/out" | cut -d' ' -f5)
mc gets k1 k2 nothing --json
expect "gets K... --json with a miss exits 1" 1
check "gets --json: the same CAS as the text form" python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["hits"][0]["cas"] == int(sys.argv[1]), d
assert d["hits"][1]["cas"] > 0 and d["misses"] == ["nothing"], d
' "$cas" <"$tmpdir/out"
mc cas k1 "$cas" uno --flags 6
expect "cas with the current CAS stores" 0 ""
mc get k1 --json
check "  ... the new value and flags" contains "$out" '"value": "uno",'
check "  ... (flags)" contains "$out" '"flags": 6'
mc cas k1 "$cas" again
expect "cas with a stale CAS exits 1" 1 ""
mc get k1
expect "  ... and did not store" 0 "uno"
mc cas nothing 1 x
expect "cas on a missing key exits 1" 1 ""
mc gets k2
cas=$(head -n 1 "$tmpdir/out" | cut -d' ' -f5)
mc_in "$tmpdir/nul" cas k2 "$cas"
expect "cas KEY CAS: the value from stdin" 0
"$memcoro" --servers "$server" get k2 | cmp -s - "$tmpdir/nul"
check "  ... stored byte for byte" test "${PIPESTATUS[0]}${PIPESTATUS[1]}" = 00
mc cas k2 notanumber x
expect "cas with a bad CAS exits 2" 2

mc set r1 a
mc set r2 b
mc rm r1 r2
expect "rm K...: all removed exits 0" 0 ""
mc exist r1
expect "  ... r1 is gone" 1
mc set r1 a
mc rm r1 r2
expect "rm K...: one missing exits 1" 1 ""
mc exist r1
expect "  ... the other was still removed" 1
mc delete k3 k2
expect "delete takes several keys too" 0

mc exist k1
expect "exist: an existing key exits 0, prints nothing" 0 ""
mc exist nothing
expect "exist: a missing key exits 1" 1 ""
mc exist k1 nothing
expect "exist K...: one missing exits 1" 1
mc set e2 v
mc exist k1 e2
expect "exist K...: all there exits 0" 0
mc exist k1 --json
expect "exist takes no --json (it prints nothing)" 2
check "  ... saying which commands do" contains "$err" "--json applies to get"

mc ping
expect "ping exits 0" 0
check "ping: host:port up RTT ms" grep -Eqx "$server up [0-9]+\.[0-9]{3} ms" "$tmpdir/out"
mc --servers "$server,127.0.0.1:1" ping
expect "ping with a server down exits 2" 2
check "  ... the live one up" grep -Eqx "$server up [0-9.]+ ms" "$tmpdir/out"
check "  ... the dead one down" grep -qx "127.0.0.1:1 down" "$tmpdir/out"
check "  ... the cause on stderr" contains "$err" "127.0.0.1:1: connection failed"
mc --servers "$server,127.0.0.1:1" ping --json
check "ping --json: up, rtt_ms, version; down with its error" python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d[0]["server"] == sys.argv[1] and d[0]["up"] is True, d
assert 0 < d[0]["rtt_ms"] < 1000 and d[0]["version"].startswith("1."), d
assert d[1] == {"server": "127.0.0.1:1", "up": False, "error": d[1]["error"]}, d
assert "connection failed" in d[1]["error"], d
' "$server" <"$tmpdir/out"

mkdir -p "$tmpdir/files/sub"
head -c 5000 /dev/urandom >"$tmpdir/files/blob.bin"
printf 'hello\n' >"$tmpdir/files/sub/note.txt"
mc cp "$tmpdir/files/blob.bin" "$tmpdir/files/sub/note.txt" --ttl 500 --flags 3
expect "cp FILE... stores each file" 0 ""
"$memcoro" --servers "$server" get blob.bin | cmp -s - "$tmpdir/files/blob.bin"
check "  ... under its base name, byte for byte" test "${PIPESTATUS[0]}${PIPESTATUS[1]}" = 00
mc get note.txt --meta
check "  ... with --ttl" grep -Eq '^ttl (4[0-9][0-9]|500)$' "$tmpdir/out"
check "  ... and --flags" contains "$out" "flags 3"
printf 'changed\n' >"$tmpdir/files/sub/note.txt"
mc cp --add "$tmpdir/files/sub/note.txt"
expect "cp --add on an existing key exits 1" 1
mc get note.txt
expect "  ... and keeps the old value" 0 "hello"
mc cp --replace "$tmpdir/files/sub/note.txt"
expect "cp --replace on an existing key stores" 0
mc get note.txt
expect "  ... the new value" 0 "changed"
printf 'x' >"$tmpdir/files/fresh"
mc cp --replace "$tmpdir/files/fresh"
expect "cp --replace on a missing key exits 1" 1
mc cp "$tmpdir/files/nonexistent" "$tmpdir/files/fresh"
expect "cp of a missing file exits 2" 2
check "  ... naming it" contains "$err" "nonexistent"
mc get fresh
expect "  ... and still stores the others" 0 "x"
printf 'y' >"$tmpdir/files/with space"
mc cp "$tmpdir/files/with space"
expect "cp of a file whose name is not a valid key exits 2" 2
check "  ... as an invalid key" contains "$err" "invalid key"
mc cp --add --replace "$tmpdir/files/fresh"
expect "cp with two modes is a usage error" 2
mc set k1 v --add
expect "--add applies to cp only" 2

mc flush
mc set d1 one
mc set d2 two --ttl 1000
mc set "d3:$(printf 'x%.0s' $(seq 1 100))" three
mc dump
expect "dump exits 0" 0
check "dump: one line per item" test "$(wc -l <"$tmpdir/out")" = 3
check "dump: KEY -1 SIZE for an item that never expires" grep -Eqx 'd1 -1 [0-9]+' "$tmpdir/out"
now=$(date +%s)
d2exp=$(awk '$1 == "d2" {print $2}' "$tmpdir/out")
check "dump: the Unix time an item expires ($d2exp, now $now)" \
    test "$d2exp" -gt $((now + 900)) -a "$d2exp" -le $((now + 1001))
d1size=$(awk '$1 == "d1" {print $3}' "$tmpdir/out")
d3size=$(awk '$1 ~ /^d3:/ {print $3}' "$tmpdir/out")
check "dump: sizes in memory ($d1size < $d3size)" test "$d1size" -gt 3 -a "$d3size" -gt "$d1size"
mc dump --json
expect "dump --json exits 0" 0
check "dump --json: one object per line with key, server, expiry and size" python3 -c '
import json, sys
rows = [json.loads(line) for line in sys.stdin]
assert sorted(r["key"][:3] for r in rows) == ["d1", "d2", "d3:"], rows
for r in rows:
    assert r["server"] == sys.argv[1] and r["size"] > 0 and "slab_class" in r, r
' "$server" <"$tmpdir/out"
mc --servers "$server,127.0.0.1:1" dump
expect "dump with a server down exits 2" 2
check "  ... the live server's keys still listed" test "$(wc -l <"$tmpdir/out")" = 3
check "  ... the dead one named" contains "$err" "127.0.0.1:1: connection failed"
kill -STOP "$mc_pid"
start=$(date +%s%N)
mc --timeout 300 dump
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
kill -CONT "$mc_pid"
expect "dump from an unresponsive server times out with exit 2" 2
check "  ... naming it (${elapsed_ms} ms)" test "$elapsed_ms" -lt 3000 -a "$err" = "memcoro: $server: operation timed out"

# stats --analyze agrees with the server's own counters.
mc get d1
mc get d1
mc get nothing
mc stats --json
cp "$tmpdir/out" "$tmpdir/stats.json"
mc stats --analyze --json
expect "stats --analyze --json exits 0" 0
cp "$tmpdir/out" "$tmpdir/analysis.json"
mc stats --json
cp "$tmpdir/out" "$tmpdir/stats2.json"
# The server reclaims flushed items in the background: with nothing stored meanwhile, items and
# bytes can only go down from the stats before the analysis to the stats after it.
check "stats --analyze: items, memory, hits, misses and evictions as stats counts them" python3 -c '
import json, sys
a = json.load(open(sys.argv[1]))
s = json.load(open(sys.argv[2]))[sys.argv[3]]
s2 = json.load(open(sys.argv[4]))[sys.argv[3]]
one = a["servers"][sys.argv[3]]
for name, stat in [("items", "curr_items"), ("memory_used", "bytes")]:
    assert int(s[stat]) >= one[name] >= int(s2[stat]), (name, s[stat], one[name], s2[stat])
for name, stat in [("memory_limit", "limit_maxbytes"), ("evictions", "evictions")]:
    assert one[name] == int(s[stat]) == int(s2[stat]), (name, one[name], s[stat])
assert one["items"] >= 3, one
# the analysis asks after the stats: the hit counters cannot have gone down
assert one["get_hits"] >= int(s["get_hits"]) >= 2 and one["get_misses"] >= int(s["get_misses"]) >= 1
assert abs(one["hit_ratio"] - one["get_hits"] / (one["get_hits"] + one["get_misses"])) < 1e-9
f = one["fullest_slab_class"]
assert f["used_chunks"] >= 1 and f["used_bytes"] == f["chunk_size"] * f["used_chunks"], f
t = a["total"]
assert t["items"] == one["items"] and t["fullest_slab_class"]["server"] == sys.argv[3], t
' "$tmpdir/analysis.json" "$tmpdir/stats.json" "$server" "$tmpdir/stats2.json"
mc stats --analyze
expect "stats --analyze exits 0" 0
for line in "\\[$server\\]" "memory_used [0-9]+ of [0-9]+ bytes" "items [0-9]+" \
    "hit_ratio [0-9.]+% \\([0-9]+ hits, [0-9]+ misses\\)" "evictions 0" \
    "fullest_slab_class [0-9]+ \\(chunk size" "\\[total\\]" "servers_answered 1 of 1"; do
    check "stats --analyze prints /$line/" grep -Eq "^$line" "$tmpdir/out"
done
mc stats items --analyze
expect "stats GROUP --analyze is a usage error" 2

# --json on the other commands that print.
mc version --json
check "version --json maps the server to its version" python3 -c '
import json, sys
d = json.load(sys.stdin)
assert list(d) == [sys.argv[1]] and d[sys.argv[1]].startswith("1."), d
' "$server" <"$tmpdir/out"
mc set n 41
mc incr n 1 --json
expect "incr --json" 0 '{
  "key": "n",
  "value": 42
}'
mc decr nothing 1 --json
expect "decr --json of a missing key exits 1, prints nothing" 1 ""
mc get d1 --meta --json
check "get --meta --json: the metadata" python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["key"] == "d1" and d["ttl"] == -1 and d["size"] == 3 and d["hit_before"] is True, d
assert d["cas"] > 0 and d["flags"] == 0 and d["stale"] is False, d
' <"$tmpdir/out"
printf 'user:1\nuser:2\n' >"$tmpdir/keys"
mc_in "$tmpdir/keys" locate --json
check "locate --json: a key and its server per line" python3 -c '
import json, sys
rows = [json.loads(line) for line in sys.stdin]
assert rows == [{"key": "user:1", "server": sys.argv[1]}, {"key": "user:2", "server": sys.argv[1]}]
' "$server" <"$tmpdir/out"
mc set k v --json
expect "set takes no --json" 2

# ---- bench: what it reports is what the server counted ---------------------------------------

bench_check() { # bench_check ARGS...: runs bench --json between two stats, compares the counts
    mc stats --json
    cp "$tmpdir/out" "$tmpdir/before.json"
    mc bench --json "$@"
    cp "$tmpdir/out" "$tmpdir/bench.json"
    bench_rc=$rc
    bench_err=$err
    mc stats --json
    python3 -c '
import json, sys
before, after = (json.load(open(f))[sys.argv[3]] for f in sys.argv[1:3])
b = json.load(open(sys.argv[4]))
d = lambda name: int(after[name]) - int(before[name])
assert b["errors"] == 0, b
assert d("cmd_get") == b["gets"], ("cmd_get", d("cmd_get"), b["gets"])
assert d("cmd_set") == b["sets"], ("cmd_set", d("cmd_set"), b["sets"])
assert d("get_hits") == b["hits"] and d("get_misses") == b["misses"], (d("get_hits"), b)
assert b["requests"] == b["gets"] + b["sets"] > 0, b
l = b["latency_ms"]
assert 0 < l["p50"] <= l["p90"] <= l["p99"] <= l["p99.9"] <= l["max"], l
assert abs(b["requests_per_second"] - b["requests"] / b["seconds"]) < 1e-6 * b["requests_per_second"] + 1e-9, b
' "$tmpdir/before.json" "$tmpdir/out" "$server" "$tmpdir/bench.json"
}
check "bench --ops: gets, hits, misses and sets are the server's cmd_get, get_hits, get_misses, cmd_set" \
    bench_check --ops 3000 --concurrency 8 --get-ratio 0.7 --keys 200 --value-size 10
check "  ... exit 0, nothing on stderr (not a terminal: no progress line)" \
    test "$bench_rc" = 0 -a -z "$bench_err"
check "  ... exactly --ops requests, about --get-ratio of them gets" python3 -c '
import json, sys
b = json.load(open(sys.argv[1]))
assert b["requests"] == 3000 and 1800 < b["gets"] < 2400 and b["concurrency"] == 8, b
' "$tmpdir/bench.json"
check "bench --duration: the same agreement" bench_check --duration 1 --concurrency 4 --get-ratio 0.5
check "  ... ran about --duration" python3 -c '
import json, sys
b = json.load(open(sys.argv[1]))
assert 0.95 < b["seconds"] < 2.5, b
' "$tmpdir/bench.json"
check "bench --zipf: the same agreement" bench_check --ops 2000 --zipf 1.1 --keys 500
# Key popularity: 3000 sets over 1000 keys reach about 950 of them drawn uniformly, a few hundred
# by Zipf's law with exponent 1.5 (key 0 alone gets about 38% of the draws).
distinct_keys() { # distinct_keys ARGS...: flush, run bench with ARGS, count the keys stored
    mc flush
    mc bench --ops 3000 --get-ratio 0 --keys 1000 "$@"
    mc dump
    grep -c '^memcoro-bench:' "$tmpdir/out"
}
uniform_keys=$(distinct_keys)
zipf_keys=$(distinct_keys --zipf 1.5)
check "bench: uniform keys reach most of --keys ($uniform_keys of 1000)" test "$uniform_keys" -gt 900
check "bench --zipf 1.5: a few popular keys ($zipf_keys of 1000)" \
    test "$zipf_keys" -lt 500 -a "$zipf_keys" -gt 50
check "  ... key 0 among them" grep -q '^memcoro-bench:0 ' "$tmpdir/out"
mc bench --zipf -1
expect "bench: a negative --zipf is a usage error" 2
mc bench --ops 1000 --get-ratio 0
expect "bench: the table" 0
check "  ... every line there" test "$(grep -cE '^(requests 1000|gets 0 \(0 hits, 0 misses\)|sets 1000|errors 0|seconds [0-9.]+|requests_per_second [0-9]+|latency_ms p50 [0-9.]+ p90 [0-9.]+ p99 [0-9.]+ p99.9 [0-9.]+ max [0-9.]+)$' "$tmpdir/out")" = 7
if command -v script >/dev/null; then
    script -qec "'$memcoro' --servers $server bench --duration 1.2 --concurrency 2 >/dev/null" /dev/null >"$tmpdir/tty" 2>&1
    check "bench on a terminal: a live progress line" grep -qE $'\r[0-9.]+ s  [0-9]+ requests' "$tmpdir/tty"
fi
mc --servers 127.0.0.1:1 bench --ops 20
expect "bench against a dead server exits 2" 2
check "  ... counting the errors" contains "$out" "errors 20"
check "  ... and naming the first" contains "$err" "127.0.0.1:1: connection failed"
mc bench --ops 10 --duration 1
expect "bench: --ops and --duration together is a usage error" 2
mc bench --get-ratio 1.5
expect "bench: --get-ratio over 1 is a usage error" 2
mc get k --ops 3
expect "--ops applies to bench only" 2

# ---- TLS and authentication ------------------------------------------------------------------

skip() { # skip DESCRIPTION REASON: a check that cannot run here
    n=$((n + 1))
    echo "ok $n - $1 # SKIP $2"
}
# run ARGS...: runs memcoro without a --servers of ours; sets $out, $err and $rc.
run() {
    "$memcoro" "$@" >"$tmpdir/out" 2>"$tmpdir/err" </dev/null
    rc=$?
    out=$(cat "$tmpdir/out")
    err=$(cat "$tmpdir/err")
}
# timed FUNCTION ARGS...: runs mc or run, and sets $elapsed_ms.
timed() {
    local t0
    t0=$(date +%s%N)
    "$@"
    elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
}
# start_memcached NAME ARGS...: starts one more memcached with ARGS (its port file and log named
# after NAME; killed on exit) and sets $started_port; fails, saying why, if it does not start.
start_memcached() {
    local name=$1 pid
    shift
    MEMCACHED_PORT_FILENAME=$tmpdir/$name.ports "$memcached" "${mc_args[@]}" "$@" \
        </dev/null >"$tmpdir/$name.log" 2>&1 &
    pid=$!
    extra_pids+=("$pid")
    started_port=
    for _ in $(seq 1 1000); do
        if [[ -f $tmpdir/$name.ports ]]; then
            started_port=$(sed -n 's/^TCP INET: \([0-9][0-9]*\)$/\1/p' "$tmpdir/$name.ports" | head -n 1)
            [[ -n $started_port ]] && return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.01
    done
    not_ok "memcached ($name: $*) starts" "$(cat "$tmpdir/$name.log")"
    return 1
}

# The CLI never takes a password as an argument: the only option about one names a file.
mc --password s3cret get k
expect "--password is not an option (the command line takes no password)" 2
check "  ... an unknown option" contains "$err" "unknown option '--password'"
mc --password=s3cret get k
expect "  ... nor --password=PASSWORD" 2
check "no option but --password-file mentions a password in --help" \
    test "$("$memcoro" --help | grep -oE -- '--[a-z-]*pass[a-z-]*' | sort -u)" = "--password-file"

# The checks that need no server: usage errors, before anything is sent.
printf 's3cret\n' >"$tmpdir/password"
printf 'wrong\n' >"$tmpdir/wrong-password"
printf '\ns3cret\n' >"$tmpdir/empty-password"
mc --user alice get k
expect "--user without a password is a usage error" 2 ""
check "  ... saying where a password may come from" contains "$err" \
    "memcoro: --user alice: no password: give --password-file FILE, or set MEMCACHED_PASSWORD_FILE or MEMCACHED_PASSWORD"
mc --password-file "$tmpdir/password" get k
expect "--password-file without a user is a usage error" 2
check "  ... asking for --user" contains "$err" "needs a user name: --user NAME or \$MEMCACHED_USERNAME"
MEMCACHED_USERNAME=alice mc get k
expect "MEMCACHED_USERNAME without a password is a usage error" 2
check "  ... naming the variables (no 'memcoro: memcoro:')" \
    test "$err" = "memcoro: MEMCACHED_USERNAME is set but neither MEMCACHED_PASSWORD nor MEMCACHED_PASSWORD_FILE gives a password"
MEMCACHED_USERNAME=alice MEMCACHED_PASSWORD_FILE=$tmpdir/nonexistent mc get k
expect "an unreadable MEMCACHED_PASSWORD_FILE exits 2" 2
check "  ... naming the file" contains "$err" "$tmpdir/nonexistent"
mc --user alice --password-file "$tmpdir/nonexistent" get k
expect "an unreadable --password-file exits 2" 2
check "  ... naming the option and the file" contains "$err" "--password-file: cannot read '$tmpdir/nonexistent'"
mc --user alice --password-file "$tmpdir/empty-password" get k
expect "a --password-file whose first line is empty exits 2" 2
check "  ... saying so" contains "$err" "is empty"
mc --user "al ice" --password-file "$tmpdir/password" get k
expect "a user name with a space exits 2" 2
check "  ... saying so" contains "$err" "the user name holds a space"

# ---- authentication: memcached -Y --------------------------------------------------------------

if ! "$memcached" -h 2>/dev/null | grep -q -- '--auth-file'; then
    skip "authentication" "memcached has no -Y (ASCII authentication)"
else
    printf 'alice:s3cret\n' >"$tmpdir/auth"
    if start_memcached auth -Y "$tmpdir/auth"; then
        auth_server=127.0.0.1:$started_port
        echo "# memcached -Y on $auth_server"
        mc --servers "$auth_server" --user alice --password-file "$tmpdir/password" set secret "for alice"
        expect "auth: --user and --password-file: set" 0 ""
        mc --servers "$auth_server" --user alice --password-file "$tmpdir/password" get secret
        expect "auth: ... and get" 0 "for alice"
        MEMCACHED_USERNAME=alice MEMCACHED_PASSWORD=s3cret mc --servers "$auth_server" get secret
        expect "auth: MEMCACHED_USERNAME and MEMCACHED_PASSWORD" 0 "for alice"
        MEMCACHED_USERNAME=alice MEMCACHED_PASSWORD_FILE=$tmpdir/password mc --servers "$auth_server" get secret
        expect "auth: MEMCACHED_USERNAME and MEMCACHED_PASSWORD_FILE" 0 "for alice"
        MEMCACHED_PASSWORD=s3cret mc --servers "$auth_server" --user alice get secret
        expect "auth: --user with the password from MEMCACHED_PASSWORD" 0 "for alice"
        MEMCACHED_USERNAME=mallory MEMCACHED_PASSWORD=nope mc --servers "$auth_server" \
            --user alice --password-file "$tmpdir/password" get secret
        expect "auth: --user and --password-file win over the environment" 0 "for alice"
        timed mc --servers "$auth_server" --user alice --password-file "$tmpdir/wrong-password" get secret
        expect "auth: a wrong password exits 2" 2 ""
        check "  ... authentication failed, naming the server" contains "$err" "memcoro: $auth_server: authentication failed"
        check "  ... at once (${elapsed_ms} ms)" test "$elapsed_ms" -lt 3000
        mc --servers "$auth_server" --user bob --password-file "$tmpdir/password" ping --json
        check "auth: ping --json of a refused user: down, authentication failed" python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d[0]["up"] is False and "authentication failed" in d[0]["error"], d
' <"$tmpdir/out"
        mc --servers "$auth_server" get secret
        expect "auth: no credentials exits 2" 2 ""
        check "  ... the server's refusal, and a hint" contains "$err" "unauthenticated (the server requires authentication: --user NAME"
        mc --servers "$auth_server" --user alice --password-file "$tmpdir/password" get secret other --json
        expect "auth: several keys" 1
        check "  ... the hit" contains "$out" '"value": "for alice"'
        mc --servers "$auth_server" --user alice --password-file "$tmpdir/password" dump
        expect "auth: dump, whose plain connection cannot authenticate, exits 2" 2 ""
        check "  ... saying so" contains "$err" "$auth_server: dump cannot use authentication"
    fi
fi

# ---- TLS: a CA, server and client certificates, memcached -Z -----------------------------------

tls_skip=
if ! command -v openssl >/dev/null; then
    tls_skip="no openssl command"
elif ! "$memcoro" --version | grep -qx 'tls: yes'; then
    tls_skip="memcoro was built without TLS ($("$memcoro" --version | tail -n 1))"
elif ! "$memcached" -h 2>/dev/null | grep -q -- '--enable-ssl'; then
    tls_skip="memcached was built without TLS"
fi
"$memcoro" --version >"$tmpdir/out"
check "--version says whether TLS is built in" grep -Eqx 'tls: (yes|no)' "$tmpdir/out"

certs=$tmpdir/certs
# make_certs: a CA; a server certificate for 127.0.0.1 and localhost; a client certificate; an
# expired server certificate (if this openssl can date one in the past). Logs to openssl.log.
make_certs() {
    mkdir -p "$certs" && cd "$certs" || return 1
    printf '[req]\ndistinguished_name = dn\n[dn]\n[ca]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\n' >req.cnf
    printf 'subjectAltName = IP:127.0.0.1, DNS:localhost\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n' >server.ext
    printf 'basicConstraints = CA:FALSE\nextendedKeyUsage = clientAuth\n' >client.ext
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    {
        openssl req -x509 "${ec[@]}" -config req.cnf -extensions ca -subj "/CN=memcoro test CA" \
            -days 2 -keyout ca.key -out ca.crt &&
            openssl req "${ec[@]}" -config req.cnf -subj "/CN=localhost" -keyout server.key -out server.csr &&
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 2 -days 2 \
                -extfile server.ext -out server.crt &&
            openssl req "${ec[@]}" -config req.cnf -subj "/CN=memcoro client" -keyout client.key -out client.csr &&
            openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -set_serial 3 -days 2 \
                -extfile client.ext -out client.crt &&
            openssl verify -CAfile ca.crt server.crt client.crt
    } >openssl.log 2>&1
    local made=$?
    # notAfter a day before now: expired.
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 4 -days -1 \
        -extfile server.ext -out expired.crt >>openssl.log 2>&1 || rm -f expired.crt
    cd - >/dev/null || return 1
    return $made
}

if [[ -n $tls_skip ]]; then
    skip "TLS" "$tls_skip"
elif ! make_certs; then
    not_ok "openssl makes the test certificates" "$(cat "$certs/openssl.log")"
elif start_memcached tls -Z -o "ssl_chain_cert=$certs/server.crt,ssl_key=$certs/server.key"; then
    tls_server=127.0.0.1:$started_port
    echo "# memcached -Z on $tls_server"
    ca=$certs/ca.crt

    mc --servers "$tls_server" --tls --cacert "$ca" set tkey "over tls"
    expect "tls: --tls --cacert: set" 0 ""
    mc --servers "$tls_server" --tls --cacert "$ca" get tkey
    expect "tls: ... get round-trips" 0 "over tls"
    MEMCACHED_SERVERS=tls://$tls_server run --cacert "$ca" get tkey
    expect "tls: MEMCACHED_SERVERS=tls://HOST:PORT with --cacert" 0 "over tls"
    mc --servers "tls://$tls_server" --protocol meta --cacert "$ca" get tkey --meta
    expect "tls: the meta protocol" 0
    check "  ... the item's metadata" contains "$out" $'size 8\n'
    mc --servers "$tls_server" --cacert "$ca" get tkey
    expect "tls: --cacert implies --tls" 0 "over tls"
    mkdir -p "$tmpdir/capath"
    cp "$ca" "$tmpdir/capath/"
    if openssl rehash "$tmpdir/capath" >/dev/null 2>&1; then
        mc --servers "$tls_server" --capath "$tmpdir/capath" get tkey
        expect "tls: --capath DIR" 0 "over tls"
    else
        skip "tls: --capath DIR" "no openssl rehash"
    fi
    mc --servers "$tls_server" --cacert "$ca" --tls-server-name localhost get tkey
    expect "tls: --tls-server-name matching the certificate" 0 "over tls"
    mc --servers "$tls_server" --cacert "$ca" --tls-server-name other.example get tkey
    expect "tls: --tls-server-name that the certificate does not name exits 2" 2 ""
    check "  ... hostname mismatch" contains "$err" "$tls_server: the server's TLS certificate was refused (hostname mismatch)"

    # Without --cacert: the system's store, which does not know our CA.
    mc --servers "$tls_server" --tls get tkey
    expect "tls: a certificate from an unknown CA exits 2" 2 ""
    check "  ... one line naming the server and why" test "$err" = \
        "memcoro: $tls_server: the server's TLS certificate was refused (unable to get local issuer certificate)"
    mc --servers "$tls_server" --tls get tkey k2 k3
    expect "tls: ... several keys too" 2 ""
    check "  ... with the cause" contains "$err" "unable to get local issuer certificate"
    mc --servers "$tls_server" --tls ping --json
    check "tls: ping --json of a refused server: down, the cause" python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d[0]["up"] is False and d[0]["tls"] is True, d
assert "unable to get local issuer certificate" in d[0]["error"], d
' <"$tmpdir/out"

    mc --servers "$tls_server" --tls --tls-no-verify get tkey
    expect "tls: --tls-no-verify accepts the unknown CA" 0 "over tls"
    check "  ... and warns" test "$err" = "memcoro: warning: --tls-no-verify: the server's certificate is not checked"
    mc --servers "$tls_server" --tls-no-verify --tls-server-name other.example get tkey
    expect "tls: --tls-no-verify accepts another name (and implies --tls)" 0 "over tls"

    mc --servers "$server,tls://$tls_server" --cacert "$ca" ping --json
    expect "tls: a plain and a tls:// server with --cacert: both up" 0
    check "  ... TLS options apply to the tls:// server only; --json says which is TLS" python3 -c '
import json, sys
d = json.load(sys.stdin)
assert [s["up"] for s in d] == [True, True], d
assert "tls" not in d[0] and d[1]["tls"] is True and d[1]["server"] == sys.argv[1], d
' "$tls_server" <"$tmpdir/out"

    timed mc --servers "$tls_server" --timeout 1000 get tkey
    expect "tls: plaintext to the TLS port exits 2" 2 ""
    check "  ... naming the server" contains "$err" "memcoro: $tls_server: "
    check "  ... within the timeout (${elapsed_ms} ms)" test "$elapsed_ms" -lt 5000
    timed mc --tls --cacert "$ca" --timeout 3000 get greeting
    expect "tls: TLS to the plaintext memcached exits 2" 2 ""
    check "  ... a TLS handshake failure naming it" contains "$err" "memcoro: $server: TLS handshake failed"
    check "  ... at once, not at the timeout (${elapsed_ms} ms)" test "$elapsed_ms" -lt 2000

    mc --servers "$tls_server" --cacert "$tmpdir/nonexistent" get tkey
    expect "tls: an unreadable --cacert exits 2" 2
    check "  ... naming the option and the file" contains "$err" "memcoro: --cacert: cannot read '$tmpdir/nonexistent'"
    mc --servers "$tls_server" --cacert "$tmpdir/password" get tkey
    expect "tls: a --cacert that holds no certificate exits 2" 2
    check "  ... naming the file (no 'memcoro: memcoro:')" contains "$err" "memcoro: TLS: cannot load the CA file '$tmpdir/password'"
    mc --servers "$tls_server" --capath "$ca" get tkey
    expect "tls: a --capath that is not a directory exits 2" 2
    mc --servers "$tls_server" --cacert "$ca" --key "$certs/client.key" get tkey
    expect "tls: --key without --cert is a usage error" 2
    check "  ... saying so" contains "$err" "--key needs --cert"
    mc --servers "/tmp/memcached.sock" --tls get tkey
    expect "tls: --tls with a Unix socket is a usage error" 2
    check "  ... saying so" contains "$err" "TLS is for TCP servers"
    mc --servers "$tls_server" --cacert "$ca" dump
    expect "tls: dump, whose plain connection has no TLS, exits 2" 2 ""
    check "  ... saying so" contains "$err" "$tls_server: dump cannot use TLS"

    if [[ ! -f $certs/expired.crt ]]; then
        skip "tls: an expired certificate" "this openssl cannot date a certificate in the past"
    elif start_memcached expired -Z -o "ssl_chain_cert=$certs/expired.crt,ssl_key=$certs/server.key"; then
        mc --servers "127.0.0.1:$started_port" --cacert "$ca" get tkey
        expect "tls: an expired certificate exits 2" 2 ""
        check "  ... certificate has expired" contains "$err" "127.0.0.1:$started_port: the server's TLS certificate was refused (certificate has expired)"
    fi

    # Mutual TLS: memcached asks for a client certificate signed by the CA.
    if start_memcached mtls -Z -o "ssl_chain_cert=$certs/server.crt,ssl_key=$certs/server.key,ssl_ca_cert=$ca,ssl_verify_mode=3"; then
        mtls_server=127.0.0.1:$started_port
        mc --servers "$mtls_server" --cacert "$ca" --cert "$certs/client.crt" --key "$certs/client.key" set m "mutual"
        expect "mutual tls: --cert and --key: set" 0 ""
        mc --servers "$mtls_server" --cacert "$ca" --cert "$certs/client.crt" --key "$certs/client.key" get m
        expect "mutual tls: ... get" 0 "mutual"
        cat "$certs/client.crt" "$certs/client.key" >"$certs/client.pem"
        mc --servers "$mtls_server" --cacert "$ca" --cert "$certs/client.pem" get m
        expect "mutual tls: --cert with the key in the same file" 0 "mutual"
        mc --servers "$mtls_server" --cacert "$ca" get m
        expect "mutual tls: without a client certificate exits 2" 2 ""
        check "  ... naming the server" contains "$err" "memcoro: $mtls_server: "
        # TLS 1.3: the server checks the client's certificate after the client's handshake is
        # done, so the refusal comes as the server's alert or, when the server's close wins
        # the race with the request, a reset.
        check "  ... and the server's refusal" test "${err/certificate required/}" != "$err" -o \
            "${err/Connection reset by peer/}" != "$err"
        mc --servers "$mtls_server" --cacert "$ca" --cert "$certs/client.crt" --key "$certs/server.key" get m
        expect "mutual tls: a key that is not the certificate's exits 2" 2
        check "  ... naming the key" contains "$err" "$certs/server.key"
    fi

    # TLS and authentication together.
    if [[ -f $tmpdir/auth ]] && start_memcached tlsauth -Z -o "ssl_chain_cert=$certs/server.crt,ssl_key=$certs/server.key" -Y "$tmpdir/auth"; then
        mc --servers "tls://127.0.0.1:$started_port" --cacert "$ca" --user alice --password-file "$tmpdir/password" set ta both
        expect "tls and auth: set" 0 ""
        MEMCACHED_USERNAME=alice MEMCACHED_PASSWORD=s3cret mc --servers "127.0.0.1:$started_port" --tls --cacert "$ca" get ta
        expect "tls and auth: get" 0 "both"
        mc --servers "127.0.0.1:$started_port" --tls --cacert "$ca" --user alice --password-file "$tmpdir/wrong-password" get ta
        expect "tls and auth: a wrong password exits 2" 2 ""
        check "  ... authentication failed" contains "$err" "127.0.0.1:$started_port: authentication failed"
    fi
fi

# ---- gets over UDP: memcached -U ---------------------------------------------------------------

if start_memcached udp -U -1; then
    udp_tcp=127.0.0.1:$started_port
    udp_port=$(sed -n 's/^UDP INET: \([0-9][0-9]*\)$/\1/p' "$tmpdir/udp.ports" | head -n 1)
    "$memcoro" --servers "$udp_tcp" set udpkey "over udp" >/dev/null 2>&1 </dev/null
    "$memcoro" --servers "$udp_tcp" --udp-port "$udp_port" get udpkey missing --json \
        >"$tmpdir/out" 2>"$tmpdir/err" </dev/null
    rc=$?
    out=$(cat "$tmpdir/out")
    err=$(cat "$tmpdir/err")
    expect "--udp-port: a multi-key get with a miss exits 1" 1
    check "  ... the hit" contains "$out" '"value": "over udp"'
    check "  ... the miss" contains "$out" '"missing"'
    # The TCP address: a port nothing listens on. The get can only have gone over UDP.
    "$memcoro" --servers 127.0.0.1:1 --udp-port "$udp_port" get udpkey \
        >"$tmpdir/out" 2>"$tmpdir/err" </dev/null
    rc=$?
    out=$(cat "$tmpdir/out")
    err=$(cat "$tmpdir/err")
    expect "--udp-port: the get needs no TCP connection" 0 "over udp"
    "$memcoro" --servers 127.0.0.1:1 --udp-port "$udp_port" set udpkey v \
        >"$tmpdir/out" 2>"$tmpdir/err" </dev/null
    rc=$?
    check "  ... a set goes over TCP, and fails there" test "$rc" != 0
fi
mc --udp-port 0 get k
expect "--udp-port 0 is a usage error" 2
mc --udp --user alice --password-file "$tmpdir/password" get k
expect "--udp with --user is a usage error" 2
check "  ... saying why" contains "$err" "UDP is cleartext and unauthenticated"

# ---- dump's fallback: stats items + stats cachedump -----------------------------------------

mc dump
check "dump: a server with the LRU crawler needs no fallback (nothing on stderr)" test -z "$err"
# memcached 1.6 with -o no_lru_crawler refuses metadump ("CLIENT_ERROR lru crawler disabled").
# (no_lru_maintainer: no segmented LRU, every item in its class's cold LRU, all of which
# cachedump lists.)
if start_memcached nocrawler -o no_lru_crawler,no_lru_maintainer; then
    nocrawler=127.0.0.1:$started_port
    "$memcoro" --servers "$nocrawler" set c1 one >/dev/null 2>&1 </dev/null
    "$memcoro" --servers "$nocrawler" set c2 two --ttl 1000 >/dev/null 2>&1 </dev/null
    "$memcoro" --servers "$nocrawler" set c3 "$(printf 'x%.0s' $(seq 1 5000))" >/dev/null 2>&1 </dev/null
    mc --servers "$nocrawler" dump
    expect "dump where metadump is refused exits 0" 0
    check "  ... saying on stderr that stats cachedump was used" test "$err" = \
        "memcoro: $nocrawler: lru_crawler metadump refused (CLIENT_ERROR lru crawler disabled): listing the keys with stats cachedump instead"
    check "  ... one line per item, from two slab classes" test "$(wc -l <"$tmpdir/out")" = 3
    check "  ... KEY -1 SIZE, SIZE the value's bytes" grep -qx 'c1 -1 3' "$tmpdir/out"
    check "  ... a large value's size" grep -qx 'c3 -1 5000' "$tmpdir/out"
    now=$(date +%s)
    c2exp=$(awk '$1 == "c2" {print $2}' "$tmpdir/out")
    check "  ... the Unix time an item expires ($c2exp, now $now)" \
        test "$c2exp" -gt $((now + 900)) -a "$c2exp" -le $((now + 1001))
    mc --servers "$nocrawler" dump --json
    expect "dump --json where metadump is refused exits 0" 0
    check "  ... the same objects, last_access and fetched null" python3 -c '
import json, sys
rows = {r["key"]: r for r in map(json.loads, sys.stdin)}
assert sorted(rows) == ["c1", "c2", "c3"], rows
for r in rows.values():
    assert r["server"] == sys.argv[1] and r["last_access"] is None and r["fetched"] is None, r
    assert r["slab_class"] > 0, r
assert rows["c1"]["size"] == 3 and rows["c1"]["expiry"] == -1, rows
assert rows["c3"]["slab_class"] != rows["c1"]["slab_class"], rows
' "$nocrawler" <"$tmpdir/out"
    mc set mixed1 x
    mc --servers "$server,$nocrawler" dump
    expect "dump of a server with metadump and one without exits 0" 0
    check "  ... both servers' keys" test "$(grep -cE '^c[1-3] ' "$tmpdir/out")" = 3 -a "$(grep -c '^mixed1 ' "$tmpdir/out")" = 1
    check "  ... the fallback named for the one server" test "$(grep -c 'metadump refused' <<<"$err")" = 1 -a \
        "$(grep -c "$nocrawler" <<<"$err")" = 1
fi
# A server answering the fallback's commands with malformed or endless lines: an error for that
# server (exit 2), never a crash or a buffer growing without bound.
cat >"$tmpdir/fake_dump.py" <<'PY'
import socket, sys
mode, portfile = sys.argv[1], sys.argv[2]
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(8)
open(portfile + ".tmp", "w").write(str(srv.getsockname()[1]))
import os
os.rename(portfile + ".tmp", portfile)
replies = {
    "malformed": b"ITEM k1 [3 b; 0 s]\r\nITEM k2 [3 b; soon s]\r\nEND\r\n",
    "bad_class": b"",
    "error": b"SERVER_ERROR out of memory\r\n",
}
while True:
    conn, _ = srv.accept()
    f = conn.makefile("rb")
    try:
        for line in f:
            cmd = line.strip()
            if cmd == b"lru_crawler metadump all":
                conn.sendall(b"ERROR\r\n")
            elif cmd == b"stats items":
                if mode == "bad_class":
                    conn.sendall(b"STAT items:99999999999:number 1\r\nEND\r\n")
                else:
                    conn.sendall(b"STAT items:1:number 2\r\nSTAT items:1:age 5\r\nEND\r\n")
            elif cmd.startswith(b"stats cachedump"):
                if mode == "endless":
                    chunk = b"ITEM " + b"k" * 65536
                    for _ in range(256):  # 16 MB without a newline, unless the client hangs up
                        conn.sendall(chunk)
                else:
                    conn.sendall(replies[mode])
    except OSError:
        pass
    conn.close()
PY
for mode in malformed bad_class error endless; do
    python3 "$tmpdir/fake_dump.py" "$mode" "$tmpdir/fake_$mode.port" </dev/null >/dev/null 2>&1 &
    extra_pids+=("$!")
    for _ in $(seq 1 500); do [[ -s $tmpdir/fake_$mode.port ]] && break; sleep 0.01; done
done
fake=127.0.0.1:$(cat "$tmpdir/fake_malformed.port")
mc --servers "$fake" dump
expect "dump: a malformed cachedump line exits 2" 2
check "  ... the lines before it listed" test "$out" = "k1 -1 3"
check "  ... naming the server and the line" contains "$err" "memcoro: $fake: stats cachedump 1: malformed line 'ITEM k2 [3 b; soon s]'"
fake=127.0.0.1:$(cat "$tmpdir/fake_bad_class.port")
mc --servers "$fake" dump
expect "dump: a slab class out of range in stats items exits 2" 2
check "  ... saying so" contains "$err" "stats items: malformed line 'STAT items:99999999999:number 1'"
fake=127.0.0.1:$(cat "$tmpdir/fake_error.port")
mc --servers "$fake" dump
expect "dump: a server error to stats cachedump exits 2" 2
check "  ... quoting it" contains "$err" "$fake: stats cachedump: SERVER_ERROR out of memory"
fake=127.0.0.1:$(cat "$tmpdir/fake_endless.port")
mc --servers "$fake" dump
expect "dump: an endless cachedump line exits 2" 2
check "  ... as a line too long" contains "$err" "$fake: a reply line longer than 16384 bytes"

# ---- error: memcoro's error codes (memerror) -------------------------------------------------

mc error timeout
expect "error NAME exits 0" 0
check "  ... CATEGORY:NUMBER NAME EXIT MESSAGE" test "$(tr -s ' ' <<<"$out")" = "memcoro:4 timeout 2 operation timed out"
mc error 13
expect "error NUMBER: memcoro's own category" 0
check "  ... 13 is protocol_desync" contains "$out" "protocol_desync"
mc error value:2 memcoro.compression:corrupt_data exit:1
expect "error CATEGORY:NUMBER and CATEGORY:NAME exit 0" 0
check "  ... one line each, in order" test "$(awk '{print $1, $2, $3}' <<<"$out" | tr '\n' ',')" = \
    "memcoro.value:2 corrupt 2,memcoro.compression:1 corrupt_data 2,exit:1 miss 1,"
mc error
expect "error without CODE exits 0" 0
cp "$tmpdir/out" "$tmpdir/errors.txt"
mc error --all
check "  ... the same as --all" cmp -s "$tmpdir/out" "$tmpdir/errors.txt"
check "  ... every memcoro::errc, in order from 1" test \
    "$(awk -F'[: ]' '$1 == "memcoro" {print $2}' "$tmpdir/errors.txt" | tr '\n' ' ')" = \
    "$(seq 1 "$(grep -c '^memcoro:' "$tmpdir/errors.txt")" | tr '\n' ' ')"
check "  ... at least the 20 codes of memcoro::errc" test "$(grep -c '^memcoro:' "$tmpdir/errors.txt")" -ge 20
check "  ... the value, compression, server list, DNS and exit categories" test \
    "$(grep -c '^memcoro\.value:' "$tmpdir/errors.txt") $(grep -c '^memcoro\.compression:' "$tmpdir/errors.txt") $(grep -c '^memcoro\.server_list:' "$tmpdir/errors.txt") $(grep -c '^memcoro\.dns:' "$tmpdir/errors.txt") $(grep -c '^exit:' "$tmpdir/errors.txt")" \
    = "8 6 14 12 3"
mc error --json
expect "error --json exits 0" 0
check "  ... an array of {category, value, name, message, exit_status}" python3 -c '
import json, sys
rows = json.load(sys.stdin)
names = [r["name"] for r in rows]
assert len(names) == len(set(names)), names
for r in rows:
    assert set(r) == {"category", "value", "name", "message", "exit_status"}, r
    assert r["message"] and r["name"].replace("_", "").isalnum(), r
    if r["category"] != "exit":
        assert r["exit_status"] == 2, r
assert {"category": "memcoro", "value": 12, "name": "protocol_error",
        "message": "malformed or unexpected reply from the server", "exit_status": 2} in rows
' <"$tmpdir/out"
# The messages are the library's: the one the CLI prints for a refused connection.
mc --servers 127.0.0.1:1 get k
refused=$err
mc error connection_failed --json
check "error: the library's message (as a failure prints it)" contains "$refused" \
    "$(python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["message"])' <<<"$out")"
mc error frobnicate
expect "error: an unknown name is a usage error (exit 2)" 2 ""
check "  ... saying so" test "$err" = "memcoro: unknown error code 'frobnicate' (memcoro error --all lists them)"
mc error 0
expect "error: 0 is no memcoro error" 2 ""
mc error 999
expect "error: nor 999" 2 ""
mc error value:99
expect "error: nor value:99" 2 ""
mc error nosuch:1
expect "error: an unknown category is a usage error" 2 ""
check "  ... naming it" contains "$err" "unknown error category 'nosuch'"
mc error --all timeout
expect "error --all with a CODE is a usage error" 2 ""
MEMCACHED_SERVERS=":bad:" "$memcoro" error timeout >/dev/null 2>&1 </dev/null
rc=$?
check "error needs no server list (a bad MEMCACHED_SERVERS is not read)" test "$rc" = 0
mc get k --all
expect "--all applies to error only" 2

# ---- value formats: --value-format, get --decode, set --compress / --type ----------------------

# A 10,000-byte value that compresses well.
python3 -c 'import sys; sys.stdout.write("".join("line %d of a compressible value\n" % i for i in range(400))[:10000])' >"$tmpdir/big"
check "the compressible value is 10,000 bytes" test "$(wc -c <"$tmpdir/big")" = 10000
stored_size() { # stored_size KEY: the bytes memcached holds for KEY (a plain get)
    "$memcoro" --servers "$server" get "$1" </dev/null | wc -c
}
for fmt in memcoro php-memcached pecl-memcache; do
    extra=()
    # PECL memcache compresses from 20,000 bytes by default (its ini's threshold).
    [[ $fmt == pecl-memcache ]] && extra=(--compress-threshold 2000)
    mc_in "$tmpdir/big" --value-format "$fmt" set "big-$fmt" --compress ${extra[@]+"${extra[@]}"}
    expect "$fmt: set --compress of 10,000 bytes stores" 0 ""
    size=$(stored_size "big-$fmt")
    check "$fmt: ... compressed (a plain get gives $size bytes)" test "$size" -lt 5000
    mc --value-format "$fmt" get "big-$fmt" --decode
    expect "$fmt: get --decode exits 0" 0
    check "$fmt: ... and gives the value back exactly" cmp -s "$tmpdir/out" "$tmpdir/big"
    mc --value-format "$fmt" get "big-$fmt" --decode --json
    check "$fmt: ... --json: the codec the format compresses with" python3 -c '
import json, sys
d = json.load(sys.stdin)
want = {"memcoro": "zlib", "php-memcached": "fastlz", "pecl-memcache": "zlib"}[sys.argv[1]]
h = d["hits"][0]
assert h["compressed_with"] == want and h["type"] == "bytes" and len(h["value"]) == 10000, h
' "$fmt" <"$tmpdir/out"
done
mc_in "$tmpdir/big" --value-format pecl-memcache set big-pecl-default --compress
check "pecl-memcache: --compress keeps its 20,000-byte threshold (10,000 bytes stored as they are)" \
    test "$(stored_size big-pecl-default)" = 10000
mc_in "$tmpdir/big" set big-plain
check "set without --compress stores the bytes as they are" test "$(stored_size big-plain)" = 10000
mc get big-memcoro --meta
check "memcoro: the flags say zlib (codec 1 in bits 26-28)" contains "$out" $'flags 67108864'
mc_in "$tmpdir/big" --value-format php-memcached set big-pm-zlib --codec zlib
mc --value-format php-memcached get big-pm-zlib --decode --json
check "php-memcached: --codec zlib (implies --compress)" contains "$out" '"compressed_with": "zlib"'
mc --value-format php-memcached get big-pm-zlib --decode
check "  ... read back exactly" cmp -s "$tmpdir/out" "$tmpdir/big"
mc_in "$tmpdir/big" set big-huge-threshold --compress --compress-threshold 20000
check "--compress-threshold: a value under it is stored as it is" test "$(stored_size big-huge-threshold)" = 10000
mc get big-memcoro
check "get without --decode gives the stored bytes, as before" test "$(wc -c <"$tmpdir/out")" -lt 5000
MEMCACHED_VALUE_FORMAT=php-memcached mc get big-php-memcached --decode
check "MEMCACHED_VALUE_FORMAT chooses the format" cmp -s "$tmpdir/out" "$tmpdir/big"
MEMCACHED_VALUE_FORMAT=php-memcached mc --value-format memcoro get big-memcoro --decode
check "--value-format wins over MEMCACHED_VALUE_FORMAT" cmp -s "$tmpdir/out" "$tmpdir/big"
mc --value-format php-memcached set vf-plain "hello world" --flags 3
mc --value-format php-memcached get vf-plain vf-plain
expect "--value-format leaves the other commands alone" 0 $'VALUE vf-plain 3 11\nhello world\nVALUE vf-plain 3 11\nhello world'

# Typed values.
mc set visits 41 --type integer
expect "set --type integer" 0 ""
mc incr visits 1
expect "  ... incr works on it" 0 "42"
mc get visits --decode
expect "  ... get --decode gives the number" 0 "42"
mc get visits --decode --json
check "  ... typed integer in --json" python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d == {"hits": [{"key": "visits", "value": "42", "type": "integer", "user_flags": 0,
                       "compressed_with": "none"}], "misses": [], "errors": []}, d
' <"$tmpdir/out"
mc --value-format php-memcached set ratio 2.5 --type floating --flags 7
expect "php-memcached: set --type floating --flags 7" 0 ""
mc get ratio --meta
check "  ... the user flags in php-memcached's bits 16-31, type 2" contains "$out" "flags $((7 << 16 | 2))"
mc --value-format php-memcached set yes 1 --type boolean
mc --value-format php-memcached set doc '{"a": [1, 2]}' --type json --ttl 100
expect "php-memcached: set --type json" 0 ""
printf '\377\376binary' >"$tmpdir/binval"
mc_in "$tmpdir/binval" --value-format php-memcached set binval --type bytes
mc --value-format php-memcached get ratio yes doc binval no-such-key --decode --json
expect "get --decode --json of several keys, one missing, exits 1" 1
check "  ... each hit's key, value, type, user_flags and compressed_with" python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["misses"] == ["no-such-key"] and d["errors"] == [], d
h = {x["key"]: x for x in d["hits"]}
assert list(h) == ["ratio", "yes", "doc", "binval"], d
assert h["ratio"] == {"key": "ratio", "value": "2.5", "type": "floating", "user_flags": 7,
                      "compressed_with": "none"}, h
assert h["yes"]["type"] == "boolean" and h["yes"]["value"] == "1", h
assert h["doc"]["type"] == "json" and json.loads(h["doc"]["value"]) == {"a": [1, 2]}, h
assert h["binval"] == {"key": "binval", "value_base64": "//5iaW5hcnk=", "type": "bytes",
                       "user_flags": 0, "compressed_with": "none"}, h
' <"$tmpdir/out"
mc --value-format php-memcached get ratio yes --decode
expect "get --decode of several keys: VALUE KEY USER_FLAGS BYTES lines" 0 $'VALUE ratio 7 3\n2.5\nVALUE yes 0 1\n1'
mc get no-such-key --decode
expect "get --decode of a missing key exits 1" 1 ""

# gets --decode, and the value format options of add, replace and cas.
mc_in "$tmpdir/big" --value-format php-memcached add vs-big --compress
expect "php-memcached: add --compress stores" 0 ""
check "  ... compressed" test "$(stored_size vs-big)" -lt 5000
mc_in "$tmpdir/big" --value-format php-memcached add vs-big --compress
expect "  ... add again: the key exists, exit 1" 1 ""
mc --value-format php-memcached gets vs-big --decode
expect "gets --decode of one key exits 0" 0
head -n 1 "$tmpdir/out" >"$tmpdir/gets-line"
check "  ... VALUE KEY USER_FLAGS BYTES CAS (one key too)" grep -Eq '^VALUE vs-big 0 10000 [1-9][0-9]*$' "$tmpdir/gets-line"
tail -c +"$(($(wc -c <"$tmpdir/gets-line") + 1))" "$tmpdir/out" | head -c 10000 >"$tmpdir/gets-value"
check "  ... then the decoded value" cmp -s "$tmpdir/gets-value" "$tmpdir/big"
cas=$(awk '{print $5}' "$tmpdir/gets-line")
mc --value-format php-memcached gets vs-big --decode --json
check "  ... --json: its cas, type and codec" python3 -c '
import json, sys
d = json.load(sys.stdin)
(h,) = d["hits"]
assert h["cas"] == int(sys.argv[1]) and h["compressed_with"] == "fastlz" and h["type"] == "bytes", h
assert len(h["value"]) == 10000, h
' "$cas" <"$tmpdir/out"
mc --value-format php-memcached cas vs-big "$cas" 7 --type integer
expect "cas --type integer with the CAS gets --decode printed" 0 ""
mc --value-format php-memcached get vs-big --decode --json
check "  ... stored as php-memcached's integer" python3 -c '
import json, sys
d = json.load(sys.stdin)
(h,) = d["hits"]
assert h["value"] == "7" and h["type"] == "integer", h
' <"$tmpdir/out"
mc --value-format php-memcached cas vs-big "$cas" 8 --type integer
expect "  ... the same CAS again: changed, exit 1" 1 ""
mc_in "$tmpdir/big" replace vs-big --codec zlib
expect "replace --codec zlib" 0 ""
mc get vs-big --decode --json
check "  ... read back zlib-compressed and whole" python3 -c '
import json, sys
d = json.load(sys.stdin)
(h,) = d["hits"]
assert h["compressed_with"] == "zlib" and len(h["value"]) == 10000, h
' <"$tmpdir/out"
mc replace vs-missing 1 --type integer
expect "replace --type on a missing key exits 1" 1 ""
mc add vs-bad x --type integer
expect "add --type integer of a non-number is a usage error" 2 ""
mc set vs-n1 5 --type integer
mc set vs-n2 6 --type integer
mc gets vs-n1 vs-n2 vs-none --decode
expect "gets --decode of several keys, one missing, exits 1" 1
check "  ... VALUE KEY USER_FLAGS BYTES CAS for each hit" python3 -c '
import re, sys
lines = open(sys.argv[1]).read().split("\n")
assert re.fullmatch(r"VALUE vs-n1 0 1 [1-9][0-9]*", lines[0]) and lines[1] == "5", lines
assert re.fullmatch(r"VALUE vs-n2 0 1 [1-9][0-9]*", lines[2]) and lines[3] == "6", lines
' "$tmpdir/out"
mc append vs-n1 x --type integer
expect "append takes no --type" 2 ""

# A value that does not decode: flags that claim compression over bytes that are not compressed.
mc set not-zlib "plain bytes, not zlib" --flags 67108864
mc set fine "fine"
mc get fine not-zlib visits --decode
expect "a value that does not decode: exit 2" 2
check "  ... the other keys are still printed" test "$out" = $'VALUE fine 0 4\nfine\nVALUE visits 0 2\n42'
check "  ... one line on stderr, naming the key" test "$(wc -l <"$tmpdir/err")" = 1
check "  ... its server, the key and why" contains "$err" "memcoro: $server: the value does not decode as memcoro: "
check "  ... (key 'not-zlib')" contains "$err" "(key 'not-zlib')"
mc get fine not-zlib --decode --json
expect "  ... --json: exit 2" 2
check "  ... in \"errors\", the other key in \"hits\"" python3 -c '
import json, sys
d = json.load(sys.stdin)
assert [h["key"] for h in d["hits"]] == ["fine"] and d["misses"] == [], d
(e,) = d["errors"]
assert e["key"] == "not-zlib" and e["server"] == sys.argv[1], e
assert e["error"].startswith("the value does not decode as memcoro: "), e
' "$server" <"$tmpdir/out"
mc get not-zlib --decode
expect "  ... one key: exit 2, nothing printed" 2 ""
check "  ... named on stderr" contains "$err" "(key 'not-zlib')"
mc get not-zlib
check "  ... a plain get still gives its bytes" test "$rc:$out" = "0:plain bytes, not zlib"
mc set pecl-bad "not a zlib stream" --flags 2
mc --value-format pecl-memcache get pecl-bad --decode
expect "pecl-memcache: a value flagged compressed that is not zlib: exit 2" 2 ""

# Usage errors.
mc --value-format frobnicate get fine --decode
expect "an unknown --value-format is a usage error" 2 ""
check "  ... naming the valid ones" contains "$err" "unknown value format 'frobnicate' (memcoro, php-memcached or pecl-memcache)"
MEMCACHED_VALUE_FORMAT=frobnicate mc get fine
expect "an unknown MEMCACHED_VALUE_FORMAT is a usage error" 2 ""
check "  ... naming the variable" contains "$err" "MEMCACHED_VALUE_FORMAT: unknown value format 'frobnicate'"
mc set t 1 --type text
expect "an unknown --type is a usage error" 2 ""
check "  ... naming the valid ones" contains "$err" "unknown --type 'text' (bytes, integer, floating, boolean or json)"
mc set t 1 --codec brotli
expect "an unknown --codec is a usage error" 2 ""
check "  ... naming the valid ones" contains "$err" "unknown --codec 'brotli' (zlib, fastlz, zstd or lz4)"
mc --value-format php-memcached set t 1 --codec lz4
expect "a codec the format does not have is a usage error" 2 ""
check "  ... naming the format's codecs" contains "$err" "--codec lz4: the php-memcached value format does not have it (its codecs: zlib, fastlz, zstd)"
mc --value-format pecl-memcache set t 1 --codec fastlz
expect "pecl-memcache has zlib only" 2 ""
mc --value-format pecl-memcache set t '[1]' --type json
expect "a type the format does not have is a usage error" 2 ""
check "  ... saying so" contains "$err" "--type json: the pecl-memcache value format has no such type"
mc set t abc --type integer
expect "--type integer of text that is no integer is a usage error" 2 ""
mc --value-format php-memcached set t true --type boolean
expect "--type boolean of text that is no boolean is a usage error" 2 ""
check "  ... giving the format's booleans" contains "$err" "stores '1' for true and '' for false"
mc set t '{nope' --type json
expect "--type json of text that is not JSON is a usage error" 2 ""
mc --value-format php-memcached set t 1 --type bytes --flags 65536
expect "user flags the format cannot keep are a usage error" 2 ""
mc get t
expect "  ... and nothing was stored" 1 ""
mc append t 1 --compress
expect "--compress applies to set, add, replace and cas only" 2 ""
check "  ... saying so" contains "$err" "--compress applies to set, add, replace and cas, not append"
mc get fine --decode --meta
expect "--decode with --meta is a usage error" 2 ""
mc delete fine --decode
expect "--decode applies to get and gets only" 2 ""
check "  ... saying so" contains "$err" "--decode applies to get and gets, not delete"

# PHP's own clients: what php-memcached stored compressed, and what it reads of memcoro's.
# shellcheck disable=SC2016 # the PHP programs' $variables are PHP's
if command -v php >/dev/null &&
    php -r 'exit(class_exists("Memcached") && class_exists("Memcache") ? 0 : 1);' 2>/dev/null; then
    php -r '
        $m = new Memcached();
        $m->addServer("127.0.0.1", (int)$argv[1]);
        $m->setOption(Memcached::OPT_COMPRESSION, true);
        $v = str_repeat("php-memcached compresses values of 2000 bytes and more. ", 100);
        file_put_contents($argv[2], $v);
        exit($m->set("from-php", $v) ? 0 : 1);' "$port" "$tmpdir/php-value" </dev/null
    check "php: php-memcached stores a 5,600-byte value" test $? = 0
    check "php: ... compressed" test "$(stored_size from-php)" -lt 2000
    mc --value-format php-memcached get from-php --decode
    expect "php: memcoro get --decode reads it" 0
    check "php: ... exactly" cmp -s "$tmpdir/out" "$tmpdir/php-value"
    mc_in "$tmpdir/big" --value-format php-memcached set to-php --compress --flags 9
    check "php: memcoro stores compressed for php-memcached" test "$(stored_size to-php)" -lt 5000
    php -r '
        $m = new Memcached();
        $m->addServer("127.0.0.1", (int)$argv[1]);
        $r = $m->get("to-php", null, Memcached::GET_EXTENDED);
        if ($r === false || $r["flags"] !== 9) exit(1);
        echo $r["value"];' "$port" >"$tmpdir/php-read" </dev/null
    check "php: php-memcached reads it (user flags 9)" test $? = 0
    check "php: ... exactly" cmp -s "$tmpdir/php-read" "$tmpdir/big"
    mc --value-format php-memcached set php-int 41 --type integer
    mc incr php-int 1 >/dev/null
    check "php: a typed integer, incremented, is an int to PHP" test "$(php -r '
        $m = new Memcached();
        $m->addServer("127.0.0.1", (int)$argv[1]);
        var_export($m->get("php-int"));' "$port" </dev/null)" = 42
else
    skip "php: values shared with php-memcached" "php, php-memcached or php-memcache not installed"
fi

# ---- --prefix: a key prefix (namespace), as libmemcached's and php-memcached's ------------------

mc --prefix app: set pk v1
expect "--prefix: set stores" 0 ""
mc get app:pk
expect "  ... under the prefixed key" 0 "v1"
mc get pk
expect "  ... and not under the bare key" 1 ""
mc --prefix app: get pk
expect "  ... get with the prefix reads it" 0 "v1"
mc --prefix app: set pk2 v2
mc --prefix app: get pk pk2 pk-missing
expect "  ... several keys: printed without the prefix" 1 $'VALUE pk 0 2\nv1\nVALUE pk2 0 2\nv2'
mc --prefix app: get pk pk-missing --json
check "  ... --json names keys without it" python3 -c '
import json, sys
d = json.load(sys.stdin)
assert [h["key"] for h in d["hits"]] == ["pk"] and d["misses"] == ["pk-missing"], d
' <"$tmpdir/out"
mc --prefix app: gets pk
check "  ... gets: VALUE pk (without the prefix) and its CAS" grep -Eq '^VALUE pk 0 2 [0-9]+$' "$tmpdir/out"
mc --prefix app: add pk x
expect "  ... add on the existing key exits 1" 1 ""
mc --prefix app: replace pk v3
expect "  ... replace" 0 ""
mc --prefix app: append pk +
mc --prefix app: prepend pk +
mc get app:pk
expect "  ... append and prepend on the prefixed key" 0 "+v3+"
mc --prefix app: set n 5
mc --prefix app: incr n 2
expect "  ... incr" 0 "7"
mc --prefix app: decr n 1
expect "  ... decr" 0 "6"
mc --prefix app: touch n 100
expect "  ... touch" 0 ""
mc --prefix app: delete n
expect "  ... delete" 0 ""
mc get app:n
expect "  ... deleted the prefixed key" 1 ""
mc --prefix app: --protocol meta get pk
expect "  ... on the meta protocol too" 0 "+v3+"
MEMCACHED_PREFIX=app: mc get pk
expect "MEMCACHED_PREFIX gives the prefix" 0 "+v3+"
MEMCACHED_PREFIX=app: mc --prefix= get app:pk
expect "  ... an empty --prefix wins over it: no prefix" 0 "+v3+"
mc --prefix 'a b' get pk
expect "--prefix with a space is a usage error" 2 ""
check "  ... that says why" contains "$err" "--prefix: a prefix is printable ASCII"
MEMCACHED_PREFIX=$'a\tb' mc get pk
expect "MEMCACHED_PREFIX with a tab is a usage error" 2 ""
check "  ... naming MEMCACHED_PREFIX" contains "$err" "MEMCACHED_PREFIX: a prefix is printable ASCII"
mc --prefix "$(printf 'p%.0s' $(seq 1 128))" get pk
expect "a 128-byte prefix is a usage error (libmemcached's limit: 127)" 2 ""
check "  ... that says so" contains "$err" "a prefix is at most 127 bytes, not 128"
mc --prefix "$(printf 'p%.0s' $(seq 1 127))" set pk v
expect "a 127-byte prefix is fine" 0 ""
mc --prefix ten-bytes: set "$(printf 'k%.0s' $(seq 1 240))" v
expect "a 240-byte key with a 10-byte prefix is stored" 0 ""
mc --prefix ten-bytes: set "$(printf 'k%.0s' $(seq 1 241))" v
expect "a 241-byte key with a 10-byte prefix is refused" 2 ""
check "  ... as an invalid key" contains "$err" "invalid key"
mc --hash-with-prefix get pk
expect "--hash-with-prefix without a prefix is a usage error" 2 ""
# Placement: the key alone, or with --hash-with-prefix the prefix and the key.
for i in $(seq 1 200); do echo "pkey:$i"; done >"$tmpdir/pkeys"
sed 's/^/tenant:/' "$tmpdir/pkeys" >"$tmpdir/pkeys-prefixed"
"$memcoro" locate --servers "$five" <"$tmpdir/pkeys" >"$tmpdir/plain-place" 2>/dev/null
"$memcoro" locate --servers "$five" <"$tmpdir/pkeys-prefixed" >"$tmpdir/wire-place" 2>/dev/null
"$memcoro" locate --servers "$five" --prefix tenant: <"$tmpdir/pkeys" >"$tmpdir/p1" 2>/dev/null
check "locate --prefix: keys are placed by the key alone" cmp -s "$tmpdir/p1" "$tmpdir/plain-place"
"$memcoro" locate --servers "$five" --prefix tenant: --hash-with-prefix <"$tmpdir/pkeys" >"$tmpdir/p2" 2>/dev/null
check "locate --hash-with-prefix: by the prefix and the key" cmp -s "$tmpdir/p2" "$tmpdir/wire-place"
moved=$(paste -d' ' "$tmpdir/p1" "$tmpdir/p2" | awk '$1 != $2' | wc -l)
check "  ... which places most keys elsewhere ($moved of 200)" test "$moved" -gt 100

# ---- server lists: memcoro servers, --server-list, --server-list-store (issue #17) ------------

lists=$tmpdir/lists
mkdir -p "$lists"
list=$lists/servers.json
# sv ARGS...: `memcoro servers ARGS` on the list file of domain app.
sv() { run servers "$@" --domain app --file "$list"; }
sv add 10.0.0.1:11211
expect "servers add: the first add creates the file, version 1" 0 "1"
sv add 10.0.0.2:11211 --weight 3 --name b
expect "  ... each edit prints the next version (add --weight --name)" 0 "2"
sv add 10.0.0.3:11211 --down
expect "  ... add --down" 0 "3"
sv weight 10.0.0.1:11211 5
expect "  ... weight" 0 "4"
sv down 10.0.0.2:11211
expect "  ... down" 0 "5"
sv up 10.0.0.3:11211
expect "  ... up" 0 "6"
sv remove 10.0.0.1:11211
expect "  ... remove" 0 "7"
sv list
expect "servers list: version, distribution, hash, one line per server" 0 \
    "$(printf 'domain app\nversion 7\ndistribution ketama\nhash md5\n10.0.0.2:11211 3 down b\n10.0.0.3:11211 1 up')"
sv list --json
expect "servers list --json" 0
check "  ... is the domain's object" python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["version"] == 7 and d["distribution"] == "ketama", d
assert [(s["address"], s["weight"], s["status"]) for s in d["servers"]] == \
    [("10.0.0.2:11211", 3, "down"), ("10.0.0.3:11211", 1, "up")], d
assert d["servers"][0]["name"] == "b"' <"$tmpdir/out"
run servers add 10.1.0.1:11211 --domain other --file "$list" --distribution pecl-consistent
expect "a new domain takes --distribution" 0 "1"
run servers list --domain other --file "$list"
check "  ... and its hash" contains "$out" "$(printf 'distribution pecl-consistent\nhash crc32')"
run servers list --file "$list"
expect "servers list without --domain lists the file's domains" 0 "$(printf 'app\nother')"
run servers add 10.1.0.2:11211 --domain other --file "$list" --distribution ketama
expect "--distribution of an existing domain that differs is refused" 2 ""
check "  ... saying why" contains "$err" "domain other is pecl-consistent"

# Refused edits write nothing.
cp "$list" "$lists/before"
sv add 10.0.0.2:11211
expect "add of an address already there exits 2" 2 ""
check "  ... saying so" contains "$err" "domain app already has server 10.0.0.2:11211"
for action in remove down up; do
    sv "$action" 10.9.9.9:11211
    expect "$action of an address not there exits 2" 2 ""
    check "  ... saying so" contains "$err" "domain app has no server 10.9.9.9:11211"
done
sv weight 10.9.9.9:11211 2
expect "weight of an address not there exits 2" 2 ""
sv weight 10.0.0.2:11211 0
expect "weight 0 is a usage error" 2 ""
sv add "not an address:x"
expect "a bad address is refused" 2 ""
run servers remove 10.0.0.1:11211 --domain nosuch --file "$list"
expect "an edit of a domain the file lacks exits 2" 2 ""
run servers remove 10.1.0.1:11211 --domain other --file "$list"
expect "removing the last server exits 2" 2 ""
check "  ... the list would have no servers" contains "$err" "no servers"
sv weight 10.0.0.2:11211 2 --json
expect "--json applies to list only" 2 ""
sv remove 10.0.0.2:11211 --weight 3
expect "--weight applies to add only" 2 ""
run servers list --domain app
expect "servers needs --file or --store" 2 ""
run servers list --domain app --file "$list" --store "$server"
expect "  ... not both" 2 ""
run servers frob --domain app --file "$list"
expect "an unknown action is a usage error" 2 ""
check "nothing was written by the refused edits" cmp -s "$list" "$lists/before"
check "  ... and no temporary file is left" test -z "$(find "$lists" -name '*.tmp.*')"

# Bad list files: refused with the reason, by servers and by --server-list.
printf '{"domains": {"app": {"version": 1, "servers": [{"address": "%s"}, {"address": "%s"}]}}}\n' "$server" "$server" >"$lists/dup.json"
printf '{"domains": {"app": {"version": 1, "servers": [{"address": "%s", "weight": 0}]}}}\n' "$server" >"$lists/weight0.json"
printf '{"domains": {"app": {"version": 1, "distribution": "frob", "servers": [{"address": "%s"}]}}}\n' "$server" >"$lists/dist.json"
printf '{"domains": {"app": {"version": 1, "servers": [' >"$lists/truncated.json"
printf '[1, 2]\n' >"$lists/array.json"
for bad in "dup:is listed twice" "weight0:weight 0" "dist:distribution \"frob\"" "truncated:not valid JSON" \
    "array:no \"domains\" object"; do
    f=$lists/${bad%%:*}.json
    run --server-list "$f" --domain app get k
    expect "--server-list refuses ${bad%%:*}.json" 2 ""
    check "  ... with the reason (${bad#*:})" contains "$err" "${bad#*:}"
    cp "$f" "$lists/before"
    run servers add 10.0.0.9:11211 --domain app --file "$f"
    expect "servers add refuses ${bad%%:*}.json" 2 ""
    check "  ... and leaves it as it was" cmp -s "$f" "$lists/before"
done
run --server-list "$lists/nonexistent.json" --domain app get k
expect "--server-list of a missing file exits 2" 2 ""
check "  ... naming it" contains "$err" "nonexistent.json"
run servers list --domain app --file "$lists/nonexistent.json"
expect "servers list of a missing file exits 2" 2 ""
run --server-list "$list" --domain nosuch get k
expect "--server-list of a domain the file lacks exits 2" 2 ""
check "  ... saying so" contains "$err" 'no list for domain "nosuch"'
run --server-list "$list" get k
expect "--server-list needs --domain" 2 ""
run --server-list "$list" --domain app --servers "$server" get k
expect "--server-list with --servers is a usage error" 2 ""
run --server-list "$list" --domain app --hash crc get k
expect "--server-list with --hash is a usage error" 2 ""
run --domain app --servers "$server" get k
expect "--domain without a list is a usage error" 2 ""

# Other commands through a list: its servers, distribution and hash; those listed down are
# marked down.
run servers add "$server" --domain live --file "$list"
run --server-list "$list" --domain live set listed-key via-list
expect "set through --server-list" 0 ""
mc get listed-key
expect "  ... stored on the list's server" 0 "via-list"
run --server-list "$list" --domain live get listed-key
expect "get through --server-list" 0 "via-list"
run servers add 127.0.0.1:1 --domain live --file "$list" --down
expect "a dead server added marked down" 0 "2"
# Keys the ring gives the live server work; those of the server listed down fail at once.
for i in $(seq 1 40); do echo "k$i"; done >"$lists/keys"
"$memcoro" --server-list "$list" --domain live locate <"$lists/keys" >"$lists/owners"
live_key=$(paste -d' ' "$lists/keys" "$lists/owners" | awk -v s="$server" '$2 == s { print $1; exit }')
down_key=$(paste -d' ' "$lists/keys" "$lists/owners" | awk '$2 == "127.0.0.1:1" { print $1; exit }')
check "locate through --server-list places keys on both servers" test -n "$live_key" -a -n "$down_key"
run --server-list "$list" --domain live set "$live_key" v
expect "set of a key of the live server" 0 ""
timed run --server-list "$list" --domain live get "$down_key"
expect "get of a key of the server listed down exits 2" 2 ""
check "  ... marked down, not tried (${elapsed_ms} ms)" contains "$err" "marked down"
run --server-list "$lists/dist.json" --domain app locate </dev/null
expect "locate refuses a bad --server-list too" 2 ""

# The list in memcached: --store, --server-list-store.
st() { run servers "$@" --domain app --store "$server"; }
st add "$server"
expect "servers add --store: version 1" 0 "1"
st add 10.0.0.2:11211 --weight 2
expect "  ... version 2" 0 "2"
st down 10.0.0.2:11211
expect "  ... down: version 3" 0 "3"
st list
expect "servers list --store" 0 \
    "$(printf 'domain app\nversion 3\ndistribution ketama\nhash md5\n%s 1 up\n10.0.0.2:11211 2 down' "$server")"
mc get memcoro.servers.app
check "  ... kept under memcoro.servers.app" contains "$out" '"version":3'
st add "$server"
expect "--store: add of an address already there exits 2" 2 ""
mc get memcoro.servers.app
check "  ... and writes nothing" contains "$out" '"version":3'
st remove 10.0.0.2:11211
expect "  ... remove: version 4" 0 "4"
run --server-list-store "$server" --domain app get listed-key
expect "get through --server-list-store" 0 "via-list"
run --server-list-store "$server" --domain nosuch get listed-key
expect "--server-list-store of a domain it lacks exits 2" 2 ""
check "  ... naming the key" contains "$err" "memcoro.servers.nosuch"
run servers list --domain app --store 127.0.0.1:1
expect "an unreachable store exits 2" 2 ""
check "  ... naming it" contains "$err" "127.0.0.1:1"
run servers add 10.0.0.5:11211 --domain app --store 127.0.0.1:1
expect "  ... for an edit too" 2 ""
run servers list --store "$server"
expect "--store needs --domain" 2 ""

# Two admins (twenty) at once: no edit is lost, each makes one version.
race() { # race WHERE...: 20 adds, then 20 weight changes, all at once
    local i pids=()
    for i in $(seq 1 20); do
        "$memcoro" servers add "10.2.0.$i:11211" --domain race "$@" >/dev/null 2>>"$lists/race.err" &
        pids+=($!)
    done
    wait "${pids[@]}"
    pids=()
    for i in $(seq 1 20); do
        "$memcoro" servers weight "10.2.0.$i:11211" "$((i + 1))" --domain race "$@" >/dev/null 2>>"$lists/race.err" &
        pids+=($!)
    done
    wait "${pids[@]}"
}
for where in "--file $lists/race.json" "--store $server"; do
    : >"$lists/race.err"
    # shellcheck disable=SC2086 # (two words)
    race $where
    # shellcheck disable=SC2086
    run servers list --domain race $where
    check "40 edits at once ($where): version 40" contains "$out" "version 40"
    check "  ... 20 servers" test "$(tail -n +5 <<<"$out" | wc -l)" = 20
    check "  ... each with its new weight (sum 230)" \
        test "$(tail -n +5 <<<"$out" | awk '{ s += $2 } END { print s }')" = 230
    check "  ... no editor failed" test ! -s "$lists/race.err"
done

# ---- per-command help, the man page, the completion, docs/cli.md -----------------------------

"$memcoro" --help >"$tmpdir/overview"
commands=$(sed -n '/^Commands:/,/^$/p' "$tmpdir/overview" | sed -n 's/^  \([a-z][a-z]*\)\( .*\)\{0,1\}$/\1/p')
check "the overview lists the commands ($(wc -w <<<"$commands"))" test "$(wc -w <<<"$commands")" -ge 22
srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
man=$srcdir/tools/memcoro/memcoro.1
completion=$srcdir/tools/memcoro/memcoro.bash-completion
bad=
for cmd in $commands; do
    "$memcoro" "$cmd" --help >"$tmpdir/h1" 2>&1 || bad+=" $cmd(--help exit)"
    "$memcoro" help "$cmd" >"$tmpdir/h2" 2>&1 || bad+=" $cmd(help exit)"
    cmp -s "$tmpdir/h1" "$tmpdir/h2" || bad+=" $cmd(differ)"
    grep -q "^usage: memcoro $cmd" "$tmpdir/h1" || bad+=" $cmd(usage)"
    grep -q "^Examples:" "$tmpdir/h1" || bad+=" $cmd(examples)"
done
check "memcoro COMMAND --help = memcoro help COMMAND, with usage and examples${bad:+:$bad}" test -z "$bad"
"$memcoro" help get >"$tmpdir/out"
check "get's help documents --json and --meta" grep -q -- '--meta' "$tmpdir/out"
"$memcoro" help frobnicate >/dev/null 2>"$tmpdir/err"
rc=$?
check "help of an unknown command exits 2" test "$rc" = 2
missing=
for cmd in $commands; do
    grep -q "^\\.SS $cmd\\b" "$man" || missing+=" $cmd"
done
check "the man page has a section for every command${missing:+ (missing:$missing)}" test -z "$missing"
comp_cmds=$(sed -n 's/^ *local commands="\(.*\)"$/\1/p' "$completion")
check "the completion script lists exactly the commands" \
    test "$(tr -s ' \n' '\n' <<<"$comp_cmds" | sort)" = "$(tr -s ' \n' '\n' <<<"$commands" | sort)"
# The completion offers the commands, and each command's own options.
if bash -c "source '$completion'" 2>/dev/null; then
    complete_words() { # complete_words WORD...: what the completion offers for the last word
        bash -c '
            source "$1"; shift
            COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
            _memcoro
            printf "%s\n" "${COMPREPLY[@]}"' _ "$completion" "$@"
    }
    check "completion: commands" test "$(complete_words memcoro ge | sort | tr '\n' ' ')" = "get gets "
    check "completion: cp's options" contains "$(complete_words memcoro cp --a | tr '\n' ' ')" "--add"
    check "completion: stats' options" contains "$(complete_words memcoro stats --a | tr '\n' ' ')" "--analyze"
    check "completion: the TLS and authentication options" \
        test "$(complete_words memcoro --tls | sort | tr '\n' ' ')" = "--tls --tls-no-verify --tls-server-name "
    check "completion: files after --cacert" \
        test "$(complete_words memcoro --cacert "$tmpdir/files/bl")" = "$tmpdir/files/blob.bin"
    check "completion: files after --cert, --key and --password-file" test \
        "$(for o in --cert --key --password-file; do complete_words memcoro "$o" "$tmpdir/files/bl"; done | sort -u)" = "$tmpdir/files/blob.bin"
    check "completion: directories only after --capath" \
        test "$(complete_words memcoro --capath "$tmpdir/files/"; complete_words memcoro --capath "$tmpdir/files/bl")" = "$tmpdir/files/sub"
    check "completion: locate --down offers the servers of --servers" \
        test "$(complete_words memcoro --servers 'a:1:2,b:2' locate --down '' | tr '\n' ' ')" = "a:1 b:2 "
    check "completion: servers offers its actions" \
        test "$(complete_words memcoro --domain app servers '' | tr '\n' ' ')" = "list add remove weight down up "
    check "completion: servers' options" \
        test "$(complete_words memcoro servers add --w | tr '\n' ' ')" = "--weight "
    check "completion: servers add --down is a switch (options follow it)" \
        test "$(complete_words memcoro servers add a:1 --down --wei | tr '\n' ' ')" = "--weight "
    check "completion: files after --server-list and --file" test \
        "$(for o in --server-list --file; do complete_words memcoro "$o" "$tmpdir/files/bl"; done | sort -u)" = "$tmpdir/files/blob.bin"
    check "completion: the value of --domain is not the command" \
        test "$(complete_words memcoro --domain app ge | sort | tr '\n' ' ')" = "get gets "
    check "completion: the value of --user is not the command" \
        test "$(complete_words memcoro --user alice --cacert ca.pem ge | sort | tr '\n' ' ')" = "get gets "
    bad=
    for cmd in $commands; do
        want=$("$memcoro" help "$cmd" | sed -n '/^Options:/,/^$/p' | grep -oE '^  --[a-z-]+' | tr -d ' ' | sort | tr '\n' ' ')
        got=$(complete_words memcoro "$cmd" -- | grep -vxE -- '--(servers|server-list|server-list-store|domain|distribution|hash|prefix|hash-with-prefix|timeout|protocol|value-format|tls|cacert|capath|cert|key|tls-server-name|tls-no-verify|user|password-file|udp|udp-port|help|version)' | sort | tr '\n' ' ')
        [[ $want == "$got" ]] || bad+=" $cmd(help: $want; completion: $got)"
    done
    check "completion: each command's options are the ones its help lists${bad:+:$bad}" test -z "$bad"
else
    not_ok "the completion script is valid bash"
fi
grep -q "^\\.TH MEMCORO 1" "$man"
check "the man page is a man page (.TH MEMCORO 1)" test $? = 0
if command -v man >/dev/null; then
    MANWIDTH=80 man -l "$man" >"$tmpdir/man.txt" 2>"$tmpdir/man.err"
    check "man renders the page without warnings" test -s "$tmpdir/man.txt" -a ! -s "$tmpdir/man.err"
fi
# Every option docs/cli.md and the man page mention is one memcoro takes.
{ cat "$srcdir/docs/cli.md"; sed 's/\\-/-/g' "$man"; } | grep -oE -- '(^|[^a-z0-9-])--[a-z][a-z-]*' | sed 's/^[^-]*//' | sort -u >"$tmpdir/flags"
bad=
while read -r flag; do
    "$memcoro" "$flag" 1 frobnicate >/dev/null 2>"$tmpdir/err" </dev/null
    grep -q "unknown option" "$tmpdir/err" && bad+=" $flag"
    grep -q -- "$flag" "$tmpdir/overview" || bad+=" $flag(not in --help)"
done <"$tmpdir/flags"
check "every option in docs/cli.md and the man page exists ($(wc -l <"$tmpdir/flags") options)${bad:+:$bad}" \
    test -z "$bad" -a "$(wc -l <"$tmpdir/flags")" -ge 15

echo "1..$n"
if [[ $failed != 0 ]]; then
    echo "# $failed of $n checks failed"
    exit 1
fi
echo "# all $n checks passed"
exit 0
