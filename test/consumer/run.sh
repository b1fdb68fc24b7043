#!/usr/bin/env bash
# Builds test/consumer/consumer.cpp against memcoro in each way docs/install.md shows, and runs
# it: through the build tree's meson-uninstalled/memcoro-uninstalled.pc (nothing installed); after
# `meson install` (into a staging tree, --destdir) through pkg-config and through
# CMake's find_package, each with g++ and with clang++ whichever of them built the library (but
# for clang++ against a g++ library built with sanitizers, see below); and as a Meson
# subproject found with dependency('memcoro'). Also checks the installed tree itself:
# a memcoro.pc that needs no other .pc file, the installed tool running without
# LD_LIBRARY_PATH, the CMake package's version rule, and one version everywhere (meson.build's,
# pkg-config's, CMake's, memcoro/version.hpp's, the tool's).
# Usage: run.sh SOURCE_ROOT BUILD_ROOT [SANITIZERS] [CLI_BUILT]
# Exits 77 (skipped) when cmake is missing, after the other checks, except under CI
# (MEMCORO_CI set), where a missing cmake or second compiler is a failure.
set -euo pipefail
src=$1
build=$2
sanitize=${3:-none}
cli_built=${4:-false}
cxx=${CXX:-c++}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# The sanitizer flags a consumer built by compiler $1 needs: a library built with sanitizers
# needs consumers built with them too.
san_flags() {
    [[ $sanitize == none ]] && return 0
    local out=("-fsanitize=$sanitize")
    if [[ $sanitize == *undefined* ]] && is_clang "$1"; then
        # clang 14 cannot apply -fsanitize=function to coroutines (see meson.build).
        out+=(-fno-sanitize=function)
    fi
    echo "${out[*]}"
}
is_clang() {
    # shellcheck disable=SC2086 # a compiler command may carry a launcher: split it
    $1 --version 2>/dev/null | head -n1 | grep -q clang
}

# The compilers to build consumers with: the library's own, and the other of g++ and clang++.
compilers=("$cxx")
if is_clang "$cxx"; then other=g++; else other=clang++; fi
if command -v "$other" >/dev/null; then
    if [[ $sanitize != none && $other == clang++ ]]; then
        # A library built by g++ with sanitizers needs g++'s shared sanitizer runtimes, and a
        # program built by clang with sanitizers brings clang's own: one process cannot hold
        # both. (The other way round works: g++'s runtimes serve clang's instrumentation.)
        # clang++ consumers of a g++-built library are tested in builds without sanitizers.
        echo "# $other consumers skipped: the library is built with -fsanitize=$sanitize by $cxx"
    else
        compilers+=("$other")
    fi
elif [[ -n ${MEMCORO_CI:-} ]]; then
    fail "$other is missing (tools/install-deps.sh installs it)"
else
    echo "# $other not found: consumers built with $cxx only"
fi

tmp=$(mktemp -d /tmp/memcoro-consumer-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
project_version=$(meson introspect --projectinfo "$build" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
echo "# meson.build states version $project_version"

# Runs a consumer program (the command $@) and checks that it states the project's version.
run_consumer() {
    local out
    out=$("$@") || fail "$* exited with $?: $out"
    echo "$out"
    grep -qx "memcoro $project_version" <<<"$out" ||
        fail "$* does not print 'memcoro $project_version' (memcoro/version.hpp)"
}

meson install -C "$build" --destdir "$tmp/root" --no-rebuild >/dev/null
pcfile=$(find "$tmp/root" -name memcoro.pc | head -n1)
[[ -n $pcfile ]] || fail "no memcoro.pc installed"
pcdir=$(dirname "$pcfile")
libdir=$(dirname "$(find "$tmp/root" -name 'libmemcoro.so*' | head -n1)")
# The install prefix inside the staging tree: the directory holding include/memcoro.
incdir=$(dirname "$(find "$tmp/root" -type d -path '*/include/memcoro' | head -n1)")
prefix=$(dirname "$incdir")

echo "# installed headers include no nlohmann_json (but the opt-in memcoro/value/json.hpp, for"
echo "# programs that use nlohmann_json themselves), and memcoro.pc asks for no other .pc"
if grep -rlE '#[[:space:]]*include[[:space:]]*[<"]nlohmann' "$incdir/memcoro" | grep -v '/memcoro/value/json.hpp$'; then
    fail "installed headers include nlohmann_json: memcoro.pc must require it then"
fi
if grep -E '^Requires' "$pcfile"; then
    fail "memcoro.pc requires other packages (a machine without them cannot use it)"
fi

echo "# pkg-config consumer"
# The staging tree's paths, as pkg-config reports them for a program built against it.
export PKG_CONFIG_SYSROOT_DIR=$tmp/root
# PKG_CONFIG_LIBDIR replaces pkg-config's own search path: memcoro.pc is the only .pc it sees,
# as on a machine with no other .pc installed (no nlohmann_json.pc in particular).
PKG_CONFIG_LIBDIR=$pcdir pkg-config --cflags --libs memcoro >/dev/null ||
    fail "pkg-config needs more than memcoro.pc"
export PKG_CONFIG_PATH=$pcdir
[[ $(pkg-config --modversion memcoro) == "$project_version" ]] ||
    fail "memcoro.pc states version $(pkg-config --modversion memcoro)"
flags=$(pkg-config --cflags --libs memcoro)
echo "pkg-config: $flags"
for c in "${compilers[@]}"; do
    echo "## $c"
    # shellcheck disable=SC2046,SC2086 # flags and a compiler's launcher are split on purpose
    $c -std=c++20 $(san_flags "$c") "$src/test/consumer/consumer.cpp" -o "$tmp/consumer-pc" \
        $(pkg-config --cflags --libs memcoro)
    LD_LIBRARY_PATH="$libdir" run_consumer "$tmp/consumer-pc"
done
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

echo "# pkg-config consumer of the build tree (meson-uninstalled/memcoro-uninstalled.pc)"
# Nothing installed: the headers of the source tree, memcoro/version.hpp and the library of the
# build tree. PKG_CONFIG_LIBDIR again: no other .pc file is needed.
uninstalled_dir=$build/meson-uninstalled
[[ -f $uninstalled_dir/memcoro-uninstalled.pc ]] || fail "no $uninstalled_dir/memcoro-uninstalled.pc"
if grep -E '^Requires' "$uninstalled_dir/memcoro-uninstalled.pc"; then
    fail "memcoro-uninstalled.pc requires other packages"
fi
uflags=$(PKG_CONFIG_LIBDIR=$uninstalled_dir pkg-config --cflags --libs memcoro) ||
    fail "pkg-config cannot read memcoro-uninstalled.pc"
echo "pkg-config (build tree): $uflags"
[[ $(PKG_CONFIG_LIBDIR=$uninstalled_dir pkg-config --modversion memcoro) == "$project_version" ]] ||
    fail "memcoro-uninstalled.pc states another version"
for want in "-I$src/include" "-I$build/generated" "-L$build/lib"; do
    [[ " $uflags " == *" $want "* ]] || fail "memcoro-uninstalled.pc: no $want in '$uflags'"
done
for c in "${compilers[@]}"; do
    echo "## $c"
    # shellcheck disable=SC2046,SC2086 # flags and a compiler's launcher are split on purpose
    $c -std=c++20 $(san_flags "$c") "$src/test/consumer/consumer.cpp" -o "$tmp/consumer-uninstalled" \
        $(PKG_CONFIG_LIBDIR=$uninstalled_dir pkg-config --cflags --libs memcoro)
    LD_LIBRARY_PATH="$build/lib" run_consumer "$tmp/consumer-uninstalled"
done

if [[ $cli_built == true ]]; then
    echo "# the installed tool finds the installed library by itself (no LD_LIBRARY_PATH)"
    tool=$(find "$tmp/root" -type f -name memcoro -perm -u+x | head -n1)
    [[ -n $tool ]] || fail "the memcoro tool is built but not installed"
    version_out=$(env -u LD_LIBRARY_PATH "$tool" --version) || fail "installed $tool does not run"
    echo "$version_out"
    version_line=${version_out%%$'\n'*} # (the next line says whether it has TLS)
    [[ $version_line == "memcoro $project_version" ]] || fail "memcoro --version: $version_line"
    env -u LD_LIBRARY_PATH "$tool" --help >/dev/null || fail "installed memcoro --help failed"
fi

echo "# Meson subproject consumer"
mkdir -p "$tmp/proj/subprojects"
cp "$src/test/consumer/consumer.cpp" "$tmp/proj/"
cat >"$tmp/proj/meson.build" <<'MESON'
project('consumer', 'cpp', default_options: ['cpp_std=c++20', 'warning_level=3', 'werror=true'])
executable('consumer', 'consumer.cpp', dependencies: dependency('memcoro'))
MESON
# The source tree as the subproject (what a wrap download would unpack), and the wrap that
# provides the dependency.
mkdir -p "$tmp/proj/subprojects/memcoro"
(cd "$src" && tar cf - --exclude='./build*' --exclude=./.git --exclude=./subprojects/packagecache .) |
    tar xf - -C "$tmp/proj/subprojects/memcoro"
cat >"$tmp/proj/subprojects/memcoro.wrap" <<'WRAP'
[wrap-file]
directory = memcoro

[provide]
memcoro = memcoro_dep
WRAP
meson_san=()
if [[ $sanitize != none ]]; then
    meson_san=("-Db_sanitize=$sanitize" -Db_lundef=false)
    if [[ $sanitize == *undefined* ]] && is_clang "$cxx"; then
        meson_san+=(-Dcpp_args=-fno-sanitize=function)
    fi
fi
CXX=$cxx meson setup "$tmp/proj/build" "$tmp/proj" --force-fallback-for=memcoro "${meson_san[@]}" \
    >"$tmp/setup.log" 2>&1 || {
    cat "$tmp/setup.log"
    exit 1
}
ninja -C "$tmp/proj/build" >"$tmp/build.log" 2>&1 || {
    cat "$tmp/build.log"
    exit 1
}
run_consumer "$tmp/proj/build/consumer"

echo "# CMake consumer"
if ! command -v cmake >/dev/null; then
    [[ -z ${MEMCORO_CI:-} ]] || fail "cmake is missing (tools/install-deps.sh installs it)"
    echo "cmake not found: the CMake package is not tested (skipped)"
    exit 77
fi
version_file=$(find "$tmp/root" -name memcoroConfigVersion.cmake | head -n1)
[[ -n $version_file ]] || fail "no memcoroConfigVersion.cmake installed"
# Relocatable: the package finds the library and headers from its own location (here under the
# staging tree, not the prefix it was configured for), naming no path of the build.
if grep -nF -e "$build" -e "$src/" "$(dirname "$version_file")"/*.cmake; then
    fail "the CMake package names paths of the build"
fi
cmake -DVERSION_FILE="$version_file" -DVERSION="$project_version" \
    -P "$src/test/consumer/check_version.cmake"
n=0
for c in "${compilers[@]}"; do
    echo "## $c"
    # A compiler command may start with a launcher (ccache g++): CMake takes it apart.
    read -ra words <<<"$c"
    extra=()
    if ((${#words[@]} > 1)); then
        extra+=("-DCMAKE_CXX_COMPILER_LAUNCHER=$(
            IFS=';'
            echo "${words[*]:0:${#words[@]}-1}"
        )")
    fi
    san=$(san_flags "$c")
    if [[ -n $san ]]; then
        extra+=("-DCMAKE_CXX_FLAGS=$san" "-DCMAKE_EXE_LINKER_FLAGS=$san")
    fi
    n=$((n + 1))
    dir=$tmp/cmake-build-$n
    cmake -S "$src/test/consumer" -B "$dir" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_CXX_COMPILER="${words[-1]}" "${extra[@]}" >"$tmp/cmake.log" 2>&1 || {
        cat "$tmp/cmake.log"
        exit 1
    }
    cmake --build "$dir" >"$tmp/cmake-build.log" 2>&1 || {
        cat "$tmp/cmake-build.log"
        exit 1
    }
    # Linked through the imported target's full path, the program finds the library by the
    # run path CMake gives it: no LD_LIBRARY_PATH.
    run_consumer env -u LD_LIBRARY_PATH "$dir/consumer"
done

echo "## Asio where CMake does not look"
# The directory of asio.hpp the package found, then hidden from CMake's search: the package
# must report memcoro not found and why, and take the directory from memcoro_ASIO_INCLUDE_DIR.
asio_dir=$(sed -n 's/^memcoro_ASIO_INCLUDE_DIR:PATH=//p' "$tmp/cmake-build-1/CMakeCache.txt")
[[ -f $asio_dir/asio.hpp ]] || fail "the CMake package found no asio.hpp ($asio_dir)"
if cmake -S "$src/test/consumer" -B "$tmp/cmake-no-asio" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_IGNORE_PATH="$asio_dir" >"$tmp/cmake.log" 2>&1; then
    fail "find_package(memcoro) succeeds without Asio"
fi
grep -q "memcoro needs standalone Asio" "$tmp/cmake.log" || {
    cat "$tmp/cmake.log"
    fail "find_package(memcoro) fails without Asio but does not say why"
}
cmake -S "$src/test/consumer" -B "$tmp/cmake-asio-dir" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_IGNORE_PATH="$asio_dir" -Dmemcoro_ASIO_INCLUDE_DIR="$asio_dir" >"$tmp/cmake.log" 2>&1 || {
    cat "$tmp/cmake.log"
    fail "find_package(memcoro) does not take memcoro_ASIO_INCLUDE_DIR"
}
echo "memcoro_ASIO_INCLUDE_DIR=$asio_dir: found"
echo "all consumers built and ran"
