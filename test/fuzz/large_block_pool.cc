// Fuzzes the reactor's pool of large blocks (native/large_block_pool.h) and the growable bytes
// built on it (native/bytes.h) with any sequence of take / give / grow / close, and checks:
//  - a block holds at least what was asked for (ASan checks every byte written stays inside),
//  - a block still out keeps its bytes whatever is taken and given meanwhile (no block is
//    handed out twice),
//  - the pool never keeps more than its cap, and keeps nothing once closed,
//  - a block given back after close() (a Buffer JS kept past its reactor) is freed, and the
//    pool itself goes when its owner and its last block are gone (LeakSanitizer: no leak),
//  - Bytes grown past its pooled block keeps its contents and stays pooled; unmasking as it
//    appends gives the XOR of the input with the key.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "../../native/bytes.h"
#include "../../native/large_block_pool.h"

namespace {

using lwsnode::Bytes;
using lwsnode::LargeBlockPool;

struct Out {
  uint8_t* block;
  size_t len;  // bytes filled
  uint8_t fill;
};

void check(bool ok) {
  if (!ok) std::abort();
}

void verify(const Out& o) {
  for (size_t i = 0; i < o.len; i += 97) check(o.block[i] == static_cast<uint8_t>(o.fill + i));
  if (o.len) check(o.block[o.len - 1] == static_cast<uint8_t>(o.fill + o.len - 1));
}

size_t sizeFrom(const uint8_t* data, size_t at) {
  // 1 B .. ~6 MiB, most of them around the pooled sizes.
  const uint32_t v = static_cast<uint32_t>(data[at]) | static_cast<uint32_t>(data[at + 1]) << 8 |
                     static_cast<uint32_t>(data[at + 2]) << 16;
  switch (v & 3) {
    case 0: return 1 + (v >> 2) % (64 * 1024);
    case 1: return LargeBlockPool::kMinBlock + (v >> 2) % (2 * 1024 * 1024);
    case 2: return 64 * 1024 + (v >> 2) % 256;
    default: return 1 + (v >> 2) % (6 * 1024 * 1024);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::shared_ptr<LargeBlockPool> pool = LargeBlockPool::create();
  std::vector<Out> out;
  Bytes bytes;
  std::vector<uint8_t> model;
  bool closed = false;
  uint8_t fill = 0;
  for (size_t at = 0; at + 4 <= size; at += 4) {
    const uint8_t op = data[at] % 6;
    switch (op) {
      case 0:
      case 1: {  // take and fill (only a little of a huge block: the check is of bounds)
        if (closed) break;
        const size_t n = sizeFrom(data, at + 1);
        uint8_t* b = pool->take(n);
        check(b != nullptr);
        check(LargeBlockPool::capacity(b) >= n);
        const size_t len = n < 256 * 1024 ? n : 256 * 1024;
        ++fill;
        for (size_t i = 0; i < len; ++i) b[i] = static_cast<uint8_t>(fill + i);
        b[n - 1] = static_cast<uint8_t>(fill + n - 1);  // the last byte asked for is ours
        out.push_back({b, len, fill});
        break;
      }
      case 2: {  // give one back
        if (out.empty()) break;
        const size_t i = data[at + 1] % out.size();
        verify(out[i]);
        LargeBlockPool::give(out[i].block);
        out[i] = out.back();
        out.pop_back();
        break;
      }
      case 3: {  // grow the pooled Bytes, unmasking or not
        if (closed) break;
        const size_t n = 1 + (static_cast<size_t>(data[at + 1]) << 8 | data[at + 2]) * 3;
        std::vector<uint8_t> src(n);
        for (size_t i = 0; i < n; ++i) src[i] = static_cast<uint8_t>(i * 7 + data[at + 3]);
        if (bytes.capacity() == 0) check(bytes.reservePooled(LargeBlockPool::kMinBlock, *pool));
        const uint8_t key[4] = {data[at + 3], 0x5a, static_cast<uint8_t>(n), 0xc3};
        if (data[at + 3] & 1) {
          check(bytes.appendUnmasked(src.data(), n, key));
          for (size_t i = 0; i < n; ++i) model.push_back(src[i] ^ key[i & 3]);
        } else {
          check(bytes.append(src.data(), n));
          model.insert(model.end(), src.begin(), src.end());
        }
        check(bytes.pooled());
        check(bytes.size() == model.size() && std::memcmp(bytes.data(), model.data(), model.size()) == 0);
        if (model.size() > 4 * 1024 * 1024) {
          bytes = Bytes();
          model.clear();
        }
        break;
      }
      case 4:  // the owner goes: blocks still out stay valid
        pool->close();
        closed = true;
        check(pool->keptBytes() == 0);
        break;
      default:
        break;
    }
    check(pool->keptBytes() <= LargeBlockPool::kMaxKeptBytes);
    if (closed) check(pool->keptBytes() == 0);
  }
  for (const Out& o : out) verify(o);
  pool->close();  // as the reactor does; then JS lets go of its Buffers
  pool.reset();   // the pool lives on in the blocks still out
  for (const Out& o : out) LargeBlockPool::give(o.block);
  return 0;
}
