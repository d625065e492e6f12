#include "mask.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace lwsnode {

void MaskKeys::refill() {
  size_t got = 0;
  while (got < sizeof pool_) {
    const ssize_t n = getrandom(pool_ + got, sizeof pool_ - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      // No getrandom() (very old kernel): the C++ library's nondeterministic source.
      std::random_device rd;
      for (; got < sizeof pool_; ++got) pool_[got] = static_cast<uint8_t>(rd());
    }
  }
  used_ = 0;
}

void MaskKeys::next(uint8_t key[kMaskKeyLength]) {
  if (used_ + kMaskKeyLength > sizeof pool_) refill();
  std::memcpy(key, pool_ + used_, kMaskKeyLength);
  used_ += kMaskKeyLength;
}

size_t putMaskedFrame(uint8_t* dst, const uint8_t* header, size_t headerLen, const uint8_t* payload, size_t len,
                      MaskKeys& keys) {
  std::memcpy(dst, header, headerLen);
  dst[1] |= 0x80;  // MASK
  uint8_t* key = dst + headerLen;
  keys.next(key);
  xorCopy(key + kMaskKeyLength, payload, len, key);
  return headerLen + kMaskKeyLength + len;
}

void xorCopy(uint8_t* dst, const uint8_t* src, size_t len, const uint8_t key[kMaskKeyLength]) {
  // Eight bytes at a time with the key repeated twice (the compiler widens this loop further);
  // the byte loop finishes the tail.
  uint64_t wide;
  uint8_t pattern[8];
  for (size_t i = 0; i < 8; ++i) pattern[i] = key[i % kMaskKeyLength];
  std::memcpy(&wide, pattern, 8);
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t chunk;
    std::memcpy(&chunk, src + i, 8);
    chunk ^= wide;
    std::memcpy(dst + i, &chunk, 8);
  }
  for (; i < len; ++i) dst[i] = src[i] ^ key[i % kMaskKeyLength];
}

}  // namespace lwsnode
