#!/usr/bin/env bash
# Installs what building and testing memcoro needs on Debian 12 / Ubuntu (run as root or with sudo).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  g++ clang libclang-rt-14-dev meson ninja-build pkg-config cmake \
  libasio-dev libfmt-dev nlohmann-json3-dev catch2 \
  libssl-dev openssl memcached python3 clang-format doxygen git ca-certificates \
  zlib1g-dev libzstd-dev liblz4-dev "$@" >/dev/null
