#include "large_block_pool.h"

#include <cstdlib>
#include <new>
#include <utility>

namespace lwsnode {

// In front of every block's bytes. `owner` is set while the block is out (so a give() from any
// thread, even after the reactor is gone, finds a live pool) and empty while the pool keeps it
// (a kept block holding its pool would keep the pool alive for ever).
struct LargeBlockPool::Header {
  std::shared_ptr<LargeBlockPool> owner;
  size_t capacity;
  uint32_t sizeClass;
};

namespace {

constexpr size_t kHeaderBytes = (sizeof(std::shared_ptr<int>) + sizeof(size_t) + sizeof(uint32_t) + 15) & ~size_t{15};

// The class holding `bytes` and its size: 16 KiB, then 2^k * 5/4, 6/4, 7/4, 8/4 for k >= 14.
uint32_t sizeClassOf(size_t bytes, size_t* size) {
  if (bytes <= LargeBlockPool::kMinBlock) {
    *size = LargeBlockPool::kMinBlock;
    return 0;
  }
  const unsigned k = 63u - static_cast<unsigned>(__builtin_clzll(bytes - 1));  // 2^k < bytes <= 2^(k+1)
  const size_t base = size_t{1} << k;
  const size_t step = base >> 2;
  const size_t m = (bytes - base + step - 1) / step;  // 1..4
  *size = base + m * step;
  return static_cast<uint32_t>((k - 14) * 4 + m);
}

}  // namespace

LargeBlockPool::Header* LargeBlockPool::headerOf(const uint8_t* block) {
  return reinterpret_cast<Header*>(const_cast<uint8_t*>(block) - kHeaderBytes);
}

LargeBlockPool::~LargeBlockPool() { close(); }

uint8_t* LargeBlockPool::take(size_t bytes) {
  size_t size = 0;
  uint32_t sizeClass = sizeClassOf(bytes, &size);
  uint8_t* raw = nullptr;
  if (size > kMaxPooledBlock) {
    sizeClass = kUnpooled;
    size = bytes;
  } else {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<uint8_t*>& list = free_[sizeClass];
    if (!list.empty()) {
      raw = list.back();
      list.pop_back();
      keptBytes_ -= size;
    }
  }
  if (!raw) {
    raw = static_cast<uint8_t*>(std::malloc(kHeaderBytes + size));
    if (!raw) return nullptr;
  }
  // A kept block's header was destroyed when it was kept: build it again.
  new (raw) Header{sizeClass == kUnpooled ? nullptr : shared_from_this(), size, sizeClass};
  return raw + kHeaderBytes;
}

uint8_t* LargeBlockPool::takeLike(const uint8_t* block, size_t bytes) {
  const Header* h = headerOf(block);
  if (h->owner) return h->owner->take(bytes);
  // An unpooled block has no owner: its successor is unpooled too (it is over kMaxPooledBlock).
  auto* raw = static_cast<uint8_t*>(std::malloc(kHeaderBytes + bytes));
  if (!raw) return nullptr;
  new (raw) Header{nullptr, bytes, kUnpooled};
  return raw + kHeaderBytes;
}

size_t LargeBlockPool::capacity(const uint8_t* block) { return headerOf(block)->capacity; }

void LargeBlockPool::give(uint8_t* block) {
  if (!block) return;
  Header* h = headerOf(block);
  // Held until the block is dealt with: this may be the last reference to the pool (its
  // reactor is gone and JS let go of its last Buffer), which then goes at the end of give().
  std::shared_ptr<LargeBlockPool> owner = std::move(h->owner);
  const uint32_t sizeClass = h->sizeClass;
  const size_t capacity = h->capacity;
  h->~Header();
  if (owner && owner->keep(block - kHeaderBytes, sizeClass, capacity)) return;
  std::free(block - kHeaderBytes);
}

bool LargeBlockPool::keep(uint8_t* raw, uint32_t sizeClass, size_t capacity) {
  if (sizeClass == kUnpooled) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_ || keptBytes_ + capacity > kMaxKeptBytes) return false;
  free_[sizeClass].push_back(raw);
  keptBytes_ += capacity;
  return true;
}

void LargeBlockPool::close() {
  std::array<std::vector<uint8_t*>, kClasses> kept;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    kept.swap(free_);
    keptBytes_ = 0;
  }
  for (const std::vector<uint8_t*>& list : kept)
    for (uint8_t* raw : list) std::free(raw);
}

size_t LargeBlockPool::keptBytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return keptBytes_;
}

}  // namespace lwsnode
