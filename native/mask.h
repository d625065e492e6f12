// Client-to-server masking (RFC 6455 §5.3): every frame a client sends carries a fresh,
// unpredictable 4-byte key and its payload XORed with it. Our frames are pre-framed and written
// with LWS_WRITE_RAW, which bypasses lws's own masking, so client connections mask at write time.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lwsnode {

constexpr size_t kMaskKeyLength = 4;

// Keys drawn from the kernel in bulk (one getrandom() per 256 frames, not one per frame).
// One per reactor, I/O thread only.
class MaskKeys {
 public:
  void next(uint8_t key[kMaskKeyLength]);

 private:
  void refill();
  uint8_t pool_[1024];
  size_t used_ = sizeof pool_;
};

// dst[i] = src[i] ^ key[i % 4] for i < len (dst == src unmasks in place). Masking and
// unmasking are the same XOR: clients mask their frames with it, the server unmasks a payload
// lws hands on still masked (lws patch 1001) as it copies it out.
void xorCopy(uint8_t* dst, const uint8_t* src, size_t len, const uint8_t key[kMaskKeyLength]);

// Writes a masked copy of one frame to `dst`: `header` (an unmasked frame header) with the MASK
// bit set, a fresh key, then `payload` XORed with it. Returns the bytes written
// (headerLen + 4 + len).
size_t putMaskedFrame(uint8_t* dst, const uint8_t* header, size_t headerLen, const uint8_t* payload, size_t len,
                      MaskKeys& keys);

}  // namespace lwsnode
