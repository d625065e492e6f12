#!/usr/bin/env bash
# Builds and runs the libFuzzer harnesses for our own native units (native/utf8_validator.h +
# bytes.h, frame.cc, command_queue.cc, slot_table.cc, event_batch.h, event_outbox.h, pmd_offer.cc,
# large_block_pool.cc)
# with ASan + UBSan.
#
#   npm run fuzz                 # short run (CI): 5 s per harness
#   npm run fuzz -- --long       # 10 min per harness (or --seconds N)
#   npm run fuzz -- --only utf8_reassembly
#
# Needs clang with libFuzzer (Debian: clang-14 libclang-rt-14-dev). Crashing inputs are kept in
# build/fuzz/<harness>/ (crash-*); the corpus grows in build/fuzz/<harness>/corpus across runs.
# Replay one: build/fuzz/<harness>/fuzzer build/fuzz/<harness>/crash-...
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=5
only=""
while (($#)); do
  case "$1" in
    --long) seconds=600 ;;
    --seconds) seconds=$2; shift ;;
    --only) only=$2; shift ;;
    *) echo "fuzz: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

cxx=""
for c in clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do
  if command -v "$c" >/dev/null; then cxx=$c; break; fi
done
[[ -n "$cxx" ]] || { echo "fuzz: clang++ not found (Debian: apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }

# harness -> the native sources it links besides itself
# (bytes.h, which event batches and frames use, needs the large block pool and mask.cc.)
pool="native/large_block_pool.cc native/mask.cc"
declare -A units=(
  [utf8_reassembly]="$pool"
  [frame_header]="native/frame.cc $pool"
  [command_queue]="native/command_queue.cc native/frame.cc $pool"
  [slot_table]="native/slot_table.cc"
  [event_batch]="$pool"
  [event_outbox]="$pool"
  [pmd_offer]="native/pmd_offer.cc"
  [large_block_pool]="$pool"
)

# uv.h (command_queue.h) comes from Node's own headers, as in the addon's build (CMakeLists.txt).
node_include=$(node -p "require('path').resolve(process.execPath, '../../include/node')")
[[ -f "$node_include/uv.h" ]] || { echo "fuzz: no uv.h in $node_include (node's headers)" >&2; exit 1; }
flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -Itest/fuzz/stub -Inative -isystem "$node_include")
status=0
for h in utf8_reassembly frame_header command_queue slot_table event_batch event_outbox pmd_offer large_block_pool; do
  [[ -z "$only" || "$only" == "$h" ]] || continue
  dir="build/fuzz/$h"
  mkdir -p "$dir/corpus"
  # shellcheck disable=SC2086
  "$cxx" "${flags[@]}" "test/fuzz/$h.cc" ${units[$h]} -o "$dir/fuzzer"
  echo "fuzz: $h for ${seconds}s"
  if ! (cd "$dir" && ASAN_OPTIONS=detect_leaks=1 ./fuzzer -max_total_time="$seconds" -print_final_stats=1 \
        -max_len=4096 corpus >log.txt 2>&1); then
    tail -n 40 "$dir/log.txt"
    echo "fuzz: $h FAILED (inputs kept in $dir)"
    status=1
  else
    grep -E "^stat::number_of_executed_units" "$dir/log.txt" | sed "s/^/fuzz: $h /" || true
  fi
done
[[ $status -eq 0 ]] && echo "fuzz: all harnesses clean"
exit $status
