// Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above
// U+10FFFF) that carries its state across fragment boundaries. Runs on the I/O thread for
// every text message, so ASCII is checked eight bytes at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace lwsnode {

class Utf8Validator {
 public:
  void reset() { need_ = 0; }
  // True when no sequence is left unfinished.
  bool complete() const { return need_ == 0; }

  // False at the first byte that cannot continue valid UTF-8.
  bool feed(const uint8_t* p, size_t n) {
    size_t i = 0;
    while (i < n) {
      if (need_ == 0) {
        while (i + 8 <= n) {
          uint64_t word;
          std::memcpy(&word, p + i, 8);
          if (word & 0x8080808080808080ull) break;
          i += 8;
        }
        if (i == n) break;
        const uint8_t c = p[i++];
        if (c < 0x80) continue;
        if (!start(c)) return false;
      } else {
        const uint8_t c = p[i++];
        if (c < lo_ || c > hi_) return false;
        lo_ = 0x80;
        hi_ = 0xBF;
        --need_;
      }
    }
    return true;
  }

 private:
  // A lead byte: how many continuation bytes follow, and the range the first one must be in.
  bool start(uint8_t c) {
    lo_ = 0x80;
    hi_ = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      need_ = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need_ = 2;
      if (c == 0xE0) lo_ = 0xA0;  // overlong
      if (c == 0xED) hi_ = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      need_ = 3;
      if (c == 0xF0) lo_ = 0x90;  // overlong
      if (c == 0xF4) hi_ = 0x8F;  // above U+10FFFF
    } else {
      return false;
    }
    return true;
  }

  uint8_t need_ = 0;
  uint8_t lo_ = 0x80;
  uint8_t hi_ = 0xBF;
};

}  // namespace lwsnode
