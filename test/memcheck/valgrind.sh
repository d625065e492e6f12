#!/usr/bin/env bash
# Valgrind memcheck of the release addon and lws: runs the same echo session as the ASan check
# (echo-session.mjs: echo, fragments, pub/sub, pings, backpressure close, terminate, shutdown)
# under valgrind, bounded in time. Fails on any memory error (invalid read/write, use of
# uninitialised values, bad free) in any frame, Node's and V8's included, and on any
# "definitely lost" block. node.supp holds the suppressions for Node/V8 internals, each with
# its reason (never for lwsnode's or lws's frames). Needs valgrind (Debian: apt-get install
# valgrind).
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v valgrind >/dev/null || { echo "memcheck-valgrind: valgrind not found (apt-get install valgrind)"; exit 1; }
[[ -f dist/index.js ]] || npm run --silent build:ts
addon="$PWD/build/Release/lwsnode.node"
[[ -f "$addon" ]] || { echo "memcheck-valgrind: $addon missing: npm run build first"; exit 1; }

out=$(mktemp)
log=$(mktemp)
trap 'rm -f "$out" "$log"' EXIT
status=0
# --jitless: V8 generates no machine code, so valgrind sees no self-modifying code and runs
# faster. Leak checking is for definite leaks only: V8 and Node keep reachable heaps at exit.
LWSNODE_ADDON="$addon" timeout 900 valgrind \
  --tool=memcheck --error-exitcode=99 --leak-check=full --show-leak-kinds=definite \
  --errors-for-leak-kinds=definite --num-callers=30 \
  --suppressions=test/memcheck/node.supp \
  --log-file="$log" \
  node --jitless test/memcheck/echo-session.mjs >"$out" 2>&1 || status=$?
cat "$out"
grep -E "ERROR SUMMARY|definitely lost|indirectly lost" "$log" || true
if [ "$status" -ne 0 ] || ! grep -q "^echo session ok$" "$out" || ! grep -q "ERROR SUMMARY: 0 errors" "$log"; then
  cat "$log" | head -400
  echo "memcheck-valgrind: FAILED (exit $status)"
  exit 1
fi
echo "memcheck-valgrind: echo session clean under valgrind (0 errors, no definite leaks)"
