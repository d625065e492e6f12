// A growable byte buffer whose storage can be handed to JS as an external Buffer, so inbound
// payloads reach JS without another copy. Its storage is either malloc's (small payloads, the
// event slab) or a block of the reactor's LargeBlockPool (large payloads, see reservePooled):
// pooled() says which, and so how a released block is given back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "large_block_pool.h"
#include "mask.h"

namespace lwsnode {

class Bytes {
 public:
  Bytes() : cap_(0), pooled_(0) {}
  Bytes(Bytes&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), cap_(o.cap_), pooled_(o.pooled_) {
    o.cap_ = 0;
    o.pooled_ = 0;
  }
  Bytes& operator=(Bytes&& o) noexcept {
    if (this != &o) {
      drop();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      cap_ = o.cap_;
      pooled_ = o.pooled_;
      o.cap_ = 0;
      o.pooled_ = 0;
    }
    return *this;
  }
  ~Bytes() { drop(); }

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Returns false (leaving the buffer unchanged) when memory is exhausted.
  bool append(const void* src, size_t n) {
    if (n == 0) return true;
    if (size_ + n > cap_ && !grow(size_ + n)) return false;
    std::memcpy(data_ + size_, src, n);
    size_ += n;
    return true;
  }

  // The same for `n` bytes still masked with `key` (lined up with src[0]): unmasked as copied.
  bool appendUnmasked(const void* src, size_t n, const uint8_t key[kMaskKeyLength]) {
    if (n == 0) return true;
    if (size_ + n > cap_ && !grow(size_ + n)) return false;
    xorCopy(data_ + size_, static_cast<const uint8_t*>(src), n, key);
    size_ += n;
    return true;
  }

  // Room for exactly `n` bytes (appends beyond it grow by doubling again).
  bool reserve(size_t n) { return n <= cap_ || resize(n); }
  // Room for at least `n` bytes in a block of `pool` (a large payload: its block is recycled
  // when JS's Buffer over it is collected); later growth stays in that pool.
  bool reservePooled(size_t n, LargeBlockPool& pool) {
    if (n <= cap_) return true;
    uint8_t* block = pool.take(n);
    return block && adopt(block, LargeBlockPool::capacity(block), true);
  }

  void clear() { size_ = 0; }
  size_t capacity() const { return cap_; }
  bool pooled() const { return pooled_ != 0; }

  // Gives up ownership; the caller frees a pooled() block with LargeBlockPool::give, any other
  // with std::free (check pooled() first).
  uint8_t* release() {
    size_ = cap_ = 0;
    pooled_ = 0;
    return std::exchange(data_, nullptr);
  }

 private:
  bool grow(size_t need) {
    size_t cap = cap_ ? cap_ : 256;
    while (cap < need) cap *= 2;
    return resize(cap);
  }

  bool resize(size_t cap) {
    if (pooled_) return resizePooled(cap);
    void* p = std::realloc(data_, cap);
    if (!p) return false;
    data_ = static_cast<uint8_t*>(p);
    cap_ = cap;
    return true;
  }

  // Out of line: rare (a large message that outgrew its block), and inlined into the small
  // paths it made GCC warn about a pooled data_ it could not see initialized.
  [[gnu::noinline]] bool resizePooled(size_t cap) {
    uint8_t* block = LargeBlockPool::takeLike(data_, cap);
    return block && adopt(block, LargeBlockPool::capacity(block), true);
  }

  // Moves the contents into `block` (capacity `cap`) and lets the old storage go.
  bool adopt(uint8_t* block, size_t cap, bool pooled) {
    if (size_) std::memcpy(block, data_, size_);
    drop();
    data_ = block;
    cap_ = cap;
    pooled_ = pooled ? 1 : 0;
    return true;
  }

  void drop() {
    if (!data_) return;
    if (pooled_) LargeBlockPool::give(data_);
    else std::free(data_);
    data_ = nullptr;
  }

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t cap_ : 63;  // one word with pooled_: a Bytes sits in every Connection
  size_t pooled_ : 1;
};
static_assert(sizeof(Bytes) == 3 * sizeof(size_t), "Bytes stays three words");

}  // namespace lwsnode
