#!/usr/bin/env bash
# linux-arm64 prebuild: cross-compiles libwebsockets and the addon with Debian's aarch64 cross
# toolchain (g++-aarch64-linux-gnu) and checks the result under qemu-user with Debian's arm64 node.
#
# Usage: scripts/cross-arm64.sh <step>
#   sysroot   download Debian's arm64 nodejs (+ the libraries it needs) and unpack them into a
#             private sysroot (~/.cache/lwsnode/arm64-sysroot); nothing is installed with dpkg,
#             and the system's apt state is left alone (a private apt state is used)
#   build     cross-build the addon into build/cross-arm64/Release/lwsnode.node
#   prebuild  build, through prebuildify (prebuilds/linux-arm64/), keeping build/Release's
#             native addon as it was
#   smoke     sysroot + prebuild, then test/arm64/smoke.mjs: the arm64 node (under qemu) runs an
#             echo server from dist/ with the arm64 addon; an amd64 `ws` client checks the echoes
# Needs: g++-aarch64-linux-gnu, qemu-user (scripts/setup-debian.sh --arm64 installs them).
# Timings (2 shared cores, other builds running): sysroot ~50 s (first time), cross build of lws +
# addon ~7 min from scratch, smoke test ~30 s (most of it qemu starting node).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/lwsnode
sysroot=${LWSNODE_ARM64_SYSROOT:-$cache/arm64-sysroot}
out=$root/build/cross-arm64
triple=aarch64-linux-gnu

log() { printf 'cross-arm64: %s\n' "$*" >&2; }
die() { printf 'cross-arm64: error: %s\n' "$*" >&2; exit 1; }

# Debian 12's arm64 node and the shared libraries it (and the addon) load. The sysroot is redone
# when this list changes.
# Debian's node also loads some of its JavaScript from /usr/share/nodejs (the node-* packages,
# architecture-independent), which qemu's -L finds in the sysroot too.
readonly PACKAGES=(nodejs libnode108 libc6 libstdc++6 libgcc-s1 libuv1 libssl3 zlib1g libbrotli1
  libc-ares2 libnghttp2-14 libicu72 node-acorn node-cjs-module-lexer node-undici)
# The files whose exports stand for "node" in Debian's build: node itself links libnode, which
# links libuv, OpenSSL and zlib dynamically. (Official arm64 node binaries export all three
# themselves.)
target_exports() {
  local l=$sysroot/usr/lib/$triple
  printf '%s;' "$sysroot/usr/bin/node" "$l/libnode.so.108" "$l/libuv.so.1" "$l/libssl.so.3" \
    "$l/libcrypto.so.3"
  if [[ -f "$l/libz.so.1" ]]; then printf '%s' "$l/libz.so.1"; else printf '%s' "$sysroot/lib/$triple/libz.so.1"; fi
}
is_arm64() { [[ -f "$1" ]] && readelf -h "$1" | grep -q 'Machine:.*AArch64'; }
target_lib_dirs() { printf '%s' "$sysroot/lib/$triple:$sysroot/usr/lib/$triple"; }

step_sysroot() {
  local key="${PACKAGES[*]}"
  if [[ -f "$sysroot/.complete" && "$(cat "$sysroot/.complete")" == "$key" ]]; then
    log "sysroot ready: $sysroot"
    return
  fi
  command -v apt-get >/dev/null || die "apt-get is needed to fetch Debian's arm64 node"
  local apt=$cache/arm64-apt
  rm -rf "$apt/debs"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs"
  : >"$apt/status"
  # A private apt state for arm64: the machine's own source lists (read only), its own lists,
  # cache and an empty dpkg status, so neither dpkg's architectures nor apt's lists change.
  local -a opts=(
    -o "APT::Architecture=arm64" -o "APT::Architectures::=arm64"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::State::status=$apt/status"
    -o "Dir::Cache=$apt/cache" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
    -o "APT::Sandbox::User=root"
  )
  # Lists older than a day are refreshed (a point release replaces the .debs they name).
  if [[ -z "$(find "$apt/lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null)" ]]; then
    log "apt-get update (private state, arm64)"
    apt-get -q "${opts[@]}" update >&2 || die "apt-get update (private arm64 lists) failed"
  fi
  # arm64 is the private state's native architecture: the names need no :arm64.
  log "downloading ${PACKAGES[*]} (arm64)"
  (cd "$apt/debs" && apt-get -q "${opts[@]}" download "${PACKAGES[@]}") >&2 ||
    die "apt-get download failed"
  rm -rf "$sysroot.tmp"
  mkdir -p "$sysroot.tmp"
  for deb in "$apt/debs"/*.deb; do dpkg-deb -x "$deb" "$sysroot.tmp"; done
  printf '%s' "$key" >"$sysroot.tmp/.complete"
  rm -rf "$sysroot"
  mv "$sysroot.tmp" "$sysroot"
  log "sysroot ready: $sysroot ($(qemu-aarch64 -L "$sysroot" "$sysroot/usr/bin/node" --version))"
}

step_build() {
  step_sysroot
  command -v "$triple-g++" >/dev/null || die "$triple-g++ missing (apt: g++-aarch64-linux-gnu)"
  local headers
  headers=$(node -p 'require("path").resolve(process.execPath, "../../include/node")')
  [[ -f "$headers/node_api.h" ]] || die "node's headers are not at $headers"
  # Node's OpenSSL headers pick their per-arch configuration by compiler defines
  # (__aarch64__ selects archs/linux-aarch64): the build node's headers serve the arm64 build.
  [[ -d "$headers/openssl/archs/linux-aarch64" ]] ||
    die "$headers/openssl lacks archs/linux-aarch64 (OpenSSL's arm64 configuration)"
  local jobs
  jobs=$(nproc)
  cmake -S "$root" -B "$out" \
    -DCMAKE_TOOLCHAIN_FILE="$root/scripts/toolchain-aarch64-linux-gnu.cmake" \
    -DCMAKE_BUILD_TYPE=Release \
    -DLWSNODE_OUTPUT_DIR="$out/Release" \
    -DNODE_EXECUTABLE="$(command -v node)" \
    -DNODE_INCLUDE_DIR="$headers" \
    "-DLWSNODE_TARGET_EXPORTS=$(target_exports)" \
    "-DLWSNODE_TARGET_LIB_DIRS=$(target_lib_dirs)" >&2
  cmake --build "$out" --parallel "$jobs" >&2
  is_arm64 "$out/Release/lwsnode.node" || die "$out/Release/lwsnode.node is not an arm64 ELF"
  log "built $out/Release/lwsnode.node"
}

# prebuildify runs its --node-gyp (scripts/prebuild-gyp.mjs) with --arch=arm64, which calls
# `cross-arm64.sh build` and then copies build/cross-arm64/Release/lwsnode.node to
# build/Release/, where prebuildify takes it from. The native addon there is put back afterwards.
step_prebuild() {
  local host=$root/build/Release/lwsnode.node saved=$out/host-lwsnode.node
  mkdir -p "$out"
  rm -f "$saved"
  [[ -f "$host" ]] && cp -p "$host" "$saved"
  local rc=0
  (cd "$root" && PREBUILD_STRIP_BIN="$triple-strip" npx prebuildify --napi --strip --arch=arm64 \
    --node-gyp ./scripts/prebuild-gyp.mjs) || rc=$?
  if [[ -f "$saved" ]]; then mv -f "$saved" "$host"; else rm -f "$host"; fi
  ((rc == 0)) || die "prebuildify failed ($rc)"
  is_arm64 "$root/prebuilds/linux-arm64/lwsnode.node" ||
    die "prebuilds/linux-arm64/lwsnode.node is missing or not arm64"
  log "prebuilds/linux-arm64/lwsnode.node ($(stat -c %s "$root/prebuilds/linux-arm64/lwsnode.node") bytes)"
}

step_smoke() {
  command -v qemu-aarch64 >/dev/null || die "qemu-aarch64 missing (apt: qemu-user)"
  [[ -f "$root/dist/index.js" ]] || die "dist/ is missing: npm run build:ts"
  step_sysroot
  step_prebuild
  LWSNODE_ARM64_SYSROOT="$sysroot" node "$root/test/arm64/smoke.mjs" \
    "$root/prebuilds/linux-arm64/lwsnode.node"
}

case "${1:-}" in
  sysroot) step_sysroot ;;
  build) step_build ;;
  prebuild) step_prebuild ;;
  smoke) step_smoke ;;
  *) die "usage: $0 sysroot|build|prebuild|smoke" ;;
esac
