#!/usr/bin/env bash
# Memory-safety check for CI: builds the addon and lws with AddressSanitizer + UBSan
# (npm run build:asan) and runs a complete echo session (echo-session.mjs) under them, with
# LeakSanitizer on, then the hostile-input test files (malformed handshakes and frames, dead
# peers, sockets adopted from node:http) under ASan + UBSan (LeakSanitizer off there: vitest and V8 keep memory at exit). Fails
# on any sanitizer report, a leak in the session, a wrong echo or a failing test.
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

status=0
LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
  ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  LWSNODE_ADDON="$addon" \
  npx vitest run test/hostile-frames.test.ts test/hostile-handshake.test.ts test/protocol.test.ts \
  test/dead-peers.test.ts test/attach.test.ts test/conformance/server.test.ts test/conformance/client.test.ts \
  test/large-messages.test.ts >"$out" 2>&1 || status=$?
tail -n 8 "$out"
if [ "$status" -ne 0 ] || grep -qE "AddressSanitizer|runtime error:" "$out"; then
  cat "$out"
  echo "memcheck: hostile-input tests FAILED under ASan + UBSan (exit $status)"
  exit 1
fi
echo "memcheck: hostile-input tests clean under ASan + UBSan"
