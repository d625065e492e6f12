#!/usr/bin/env bash
# Installs, on Debian 12 (as root), the system packages that building lwsnode from source and
# its whole test suite use; only those missing are installed. Then `npm install` (or `npm ci`).
# The README's set-up command and .ci/run both run this, so they cannot drift apart.
set -euo pipefail

# --arm64: also (only) what the linux-arm64 cross build and its qemu smoke test need
# (`npm run test:arm64`, scripts/cross-arm64.sh); .ci/run calls it so.
missing=()

# Installs the packages collected in `missing`, if any; otherwise says "$1".
install_missing() {
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  else
    echo "$1"
  fi
}

if [[ "${1:-}" == "--arm64" ]]; then
  command -v aarch64-linux-gnu-g++ >/dev/null || missing+=(g++-aarch64-linux-gnu)
  command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
  install_missing "the arm64 cross toolchain and qemu-user are installed"
  exit 0
fi
# The native build: cmake, a C++17 compiler, make, python3 (node-gyp); patch and xz unpack the
# libwebsockets source; nm checks the addon's symbols.
for tool in cmake:cmake g++:g++ make:make patch:patch python3:python3 xz:xz-utils nm:binutils; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
# Python's websockets is the second independent server the client tests talk to, run by
# Debian's /usr/bin/python3 (not whichever python3 comes first on PATH).
/usr/bin/python3 -c "import websockets" 2>/dev/null || missing+=(python3-websockets)
# Headless Chromium for the browser example's test (playwright-core drives it; npm never
# downloads a browser).
command -v chromium >/dev/null || missing+=(chromium)
# A real Redis for the Redis bridge's tests.
command -v redis-server >/dev/null || missing+=(redis-server)
# Memory checkers: valgrind, and clang with libFuzzer for test/fuzz (npm run fuzz).
command -v valgrind >/dev/null || missing+=(valgrind)
command -v clang++-14 >/dev/null || command -v clang++ >/dev/null || missing+=(clang-14)
dpkg -s libclang-rt-14-dev >/dev/null 2>&1 || missing+=(libclang-rt-14-dev)

install_missing "every system package the build and tests use is installed"
