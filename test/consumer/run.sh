#!/usr/bin/env bash
# Builds test/consumer/consumer.cpp against memcoro twice: through pkg-config after
# `meson install`, and as a Meson subproject found with dependency('memcoro').
# Usage: run.sh SOURCE_ROOT BUILD_ROOT [SANITIZERS]
set -euo pipefail
src=$1
build=$2
sanitize=${3:-none}
san_flags=()
meson_san=()
if [[ $sanitize != none ]]; then
    # A library built with sanitizers needs consumers built with them too.
    san_flags=("-fsanitize=$sanitize")
    meson_san=("-Db_sanitize=$sanitize" -Db_lundef=false)
    if [[ $sanitize == *undefined* && ${CXX:-} == *clang* ]]; then
        # clang 14 cannot apply -fsanitize=function to coroutines (see meson.build).
        san_flags+=(-fno-sanitize=function)
        meson_san+=(-Dcpp_args=-fno-sanitize=function)
    fi
fi
tmp=$(mktemp -d /tmp/memcoro-consumer-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cxx=${CXX:-c++}

echo "# pkg-config consumer"
meson install -C "$build" --destdir "$tmp/root" --no-rebuild >/dev/null
pc=$(dirname "$(find "$tmp/root" -name memcoro.pc | head -n1)")
export PKG_CONFIG_PATH=$pc PKG_CONFIG_SYSROOT_DIR=$tmp/root
flags=$(pkg-config --cflags --libs memcoro)
echo "pkg-config: $flags"
libdir=$(dirname "$(find "$tmp/root" -name 'libmemcoro.so*' | head -n1)")
$cxx -std=c++20 "${san_flags[@]}" "$src/test/consumer/consumer.cpp" -o "$tmp/consumer-pc" $flags
LD_LIBRARY_PATH="$libdir" "$tmp/consumer-pc"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

echo "# Meson subproject consumer"
mkdir -p "$tmp/proj/subprojects"
cp "$src/test/consumer/consumer.cpp" "$tmp/proj/"
cat > "$tmp/proj/meson.build" <<'MESON'
project('consumer', 'cpp', default_options: ['cpp_std=c++20', 'warning_level=3', 'werror=true'])
executable('consumer', 'consumer.cpp', dependencies: dependency('memcoro'))
MESON
# The source tree as the subproject (what a wrap download would unpack), and the wrap that
# provides the dependency.
mkdir -p "$tmp/proj/subprojects/memcoro"
(cd "$src" && tar cf - --exclude='./build*' --exclude=./.git --exclude=./subprojects/packagecache .) | tar xf - -C "$tmp/proj/subprojects/memcoro"
cat > "$tmp/proj/subprojects/memcoro.wrap" <<'WRAP'
[wrap-file]
directory = memcoro

[provide]
memcoro = memcoro_dep
WRAP
CXX=$cxx meson setup "$tmp/proj/build" "$tmp/proj" --force-fallback-for=memcoro "${meson_san[@]}" \
    >"$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log"; exit 1; }
ninja -C "$tmp/proj/build" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
"$tmp/proj/build/consumer"
echo "both consumers built and ran"
