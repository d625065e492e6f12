#!/usr/bin/env bash
# Memory-safety check for CI: builds the addon and lws with AddressSanitizer + UBSan
# (npm run build:asan) and runs a complete echo session (echo-session.mjs) under them, with
# LeakSanitizer on. Fails on any sanitizer report, a leak, or a wrong echo.
set -euo pipefail
cd "$(dirname "$0")/../.."

npm run --silent build:asan
npm run --silent build:ts

addon="$PWD/build-asan/Debug/lwsnode.node"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  LWSNODE_ADDON="$addon" \
  node test/memcheck/echo-session.mjs >"$out" 2>&1 || status=$?
cat "$out"
if [ "$status" -ne 0 ] || ! grep -q "^echo session ok$" "$out" \
   || grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$out"; then
  echo "memcheck: FAILED (exit $status)"
  exit 1
fi
echo "memcheck: echo session clean under ASan + UBSan + LSan"
