// A growable, malloc-owned byte buffer whose storage can be handed to JS as an external
// Buffer (its finalizer calls free), so inbound payloads reach JS without another copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

namespace lwsnode {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

class Bytes {
 public:
  Bytes() = default;
  Bytes(Bytes&&) noexcept = default;
  Bytes& operator=(Bytes&&) noexcept = default;

  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Returns false (leaving the buffer unchanged) when memory is exhausted.
  bool append(const void* src, size_t n) {
    if (n == 0) return true;
    if (size_ + n > cap_ && !grow(size_ + n)) return false;
    std::memcpy(data_.get() + size_, src, n);
    size_ += n;
    return true;
  }

  // Room for exactly `n` bytes (appends beyond it grow by doubling again).
  bool reserve(size_t n) { return n <= cap_ || resize(n); }

  void clear() { size_ = 0; }
  size_t capacity() const { return cap_; }

  // Gives up ownership; the caller frees with std::free.
  uint8_t* release() {
    size_ = cap_ = 0;
    return data_.release();
  }

 private:
  bool grow(size_t need) {
    size_t cap = cap_ ? cap_ : 256;
    while (cap < need) cap *= 2;
    return resize(cap);
  }

  bool resize(size_t cap) {
    void* p = std::realloc(data_.get(), cap);
    if (!p) return false;
    (void)data_.release();
    data_.reset(static_cast<uint8_t*>(p));
    cap_ = cap;
    return true;
  }

  std::unique_ptr<uint8_t, FreeDeleter> data_;
  size_t size_ = 0;
  size_t cap_ = 0;
};

}  // namespace lwsnode
