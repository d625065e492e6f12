// Fuzzes message reassembly as Connection::onReceive does it: the input is cut into fragments,
// each fragment is appended to a Bytes buffer and fed to the incremental Utf8Validator.
// Checked against a plain, code-point-at-a-time reference:
//  - the reassembled bytes equal the input,
//  - after each fragment, feed() succeeded exactly when the bytes so far can still be
//    completed to valid UTF-8 (fail fast, never early),
//  - at the end, success and complete() equal "the whole input is valid UTF-8".
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../../native/bytes.h"
#include "../../native/utf8_validator.h"

namespace {

enum class Ref { Valid, Incomplete, Invalid };

// Length of the sequence a lead byte starts (0: not a lead byte).
int seqLen(uint8_t c) {
  if (c < 0x80) return 1;
  if (c >= 0xC0 && c < 0xE0) return 2;
  if (c >= 0xE0 && c < 0xF0) return 3;
  if (c >= 0xF0 && c < 0xF8) return 4;
  return 0;
}

// Decodes one complete sequence of length n; false if it is not a valid scalar value.
bool validSeq(const uint8_t* p, int n) {
  uint32_t cp;
  if (n == 1) return true;
  cp = p[0] & (0x7F >> n);
  for (int i = 1; i < n; ++i) {
    if ((p[i] & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n]) return false;                   // overlong
  if (cp >= 0xD800 && cp <= 0xDFFF) return false;  // surrogate
  return cp <= 0x10FFFF;
}

Ref reference(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    const int len = seqLen(p[i]);
    if (len == 0) return Ref::Invalid;
    if (i + len <= n) {
      if (!validSeq(p + i, len)) return Ref::Invalid;
      i += len;
      continue;
    }
    // A truncated last sequence: valid as a prefix if some continuation completes it. Only the
    // second byte has a narrowed range, and these candidates hit every range's edges.
    static const uint8_t kCand[] = {0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF};
    const size_t have = n - i;
    const size_t missing = static_cast<size_t>(len) - have;
    uint8_t seq[4];
    std::memcpy(seq, p + i, have);
    size_t combos = 1;
    for (size_t k = 0; k < missing; ++k) combos *= sizeof kCand;
    for (size_t c = 0; c < combos; ++c) {
      size_t v = c;
      for (size_t k = 0; k < missing; ++k, v /= sizeof kCand) seq[have + k] = kCand[v % sizeof kCand];
      if (validSeq(seq, len)) return Ref::Incomplete;
    }
    return Ref::Invalid;
  }
  return Ref::Valid;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // First byte: how many fragment cuts follow (each one byte: a fragment length 0..255).
  const size_t cuts = data[0] % 16;
  if (size < 1 + cuts) return 0;
  const uint8_t* lens = data + 1;
  const uint8_t* msg = data + 1 + cuts;
  const size_t n = size - 1 - cuts;

  lwsnode::Utf8Validator v;
  lwsnode::Bytes rx;
  size_t off = 0;
  bool ok = true;
  for (size_t f = 0; f <= cuts && ok; ++f) {
    const size_t len = f < cuts ? (lens[f] < n - off ? lens[f] : n - off) : n - off;
    ok = v.feed(msg + off, len);
    if (!rx.append(msg + off, len)) std::abort();
    off += len;
    const Ref ref = reference(msg, off);
    if (ok != (ref != Ref::Invalid)) std::abort();  // fails exactly when no completion exists
    if (ok && v.complete() != (ref == Ref::Valid)) std::abort();
  }
  if (ok) {
    if (rx.size() != n || (n && std::memcmp(rx.data(), msg, n) != 0)) std::abort();
    // Reuse after reset, as for the next message on the same connection.
    v.reset();
    if (!v.complete()) std::abort();
    std::free(rx.release());
  }
  return 0;
}
