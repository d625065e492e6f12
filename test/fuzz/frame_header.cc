// Fuzzes the server frame writer (native/frame.cc): writeFrameHeader for any FIN, opcode and
// length, and Frame::create, checked by an independent RFC 6455 §5.2 header parser. The header
// must end exactly at the payload, use the shortest length encoding, never set MASK or RSV,
// and touch no byte before its own start (ASan checks the allocation bounds).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../../native/frame.h"

namespace {

struct Parsed {
  bool fin;
  uint8_t rsv, opcode;
  bool masked;
  uint64_t len;
  size_t headerLen;
};

bool parse(const uint8_t* p, size_t n, Parsed& out) {
  if (n < 2) return false;
  out.fin = p[0] & 0x80;
  out.rsv = (p[0] >> 4) & 7;
  out.opcode = p[0] & 0xF;
  out.masked = p[1] & 0x80;
  const uint8_t l7 = p[1] & 0x7F;
  if (l7 < 126) {
    out.len = l7;
    out.headerLen = 2;
  } else if (l7 == 126) {
    if (n < 4) return false;
    out.len = (uint64_t{p[2]} << 8) | p[3];
    out.headerLen = 4;
  } else {
    if (n < 10) return false;
    out.len = 0;
    for (int i = 0; i < 8; ++i) out.len = (out.len << 8) | p[2 + i];
    out.headerLen = 10;
  }
  return true;
}

size_t minimalHeader(uint64_t len) { return len < 126 ? 2 : len <= 0xFFFF ? 4 : 10; }

const lwsnode::Opcode kOps[] = {lwsnode::Opcode::Continuation, lwsnode::Opcode::Text, lwsnode::Opcode::Binary,
                                lwsnode::Opcode::Close,        lwsnode::Opcode::Ping, lwsnode::Opcode::Pong};

void check(const uint8_t* start, size_t avail, bool fin, lwsnode::Opcode op, uint64_t len, size_t written) {
  Parsed h;
  if (!parse(start, avail, h)) std::abort();
  if (h.headerLen != written || written != minimalHeader(len)) std::abort();
  if (h.fin != fin || h.rsv != 0 || h.masked || h.opcode != static_cast<uint8_t>(op) || h.len != len) std::abort();
  if (h.len >> 63) std::abort();  // RFC 6455: the top bit of a 64-bit length is 0
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 9) return 0;
  const bool fin = data[0] & 1;
  const lwsnode::Opcode op = kOps[(data[0] >> 1) % 6];
  uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len = (len << 8) | data[1 + i];
  len >>= (data[0] >> 4) * 4;  // spread lengths over every magnitude
  len &= (uint64_t{1} << 63) - 1;  // size_t payload lengths never reach 2^63

  // Exactly kMaxFrameHeader bytes of room in a heap block of its own: ASan flags any write
  // before the header's start.
  std::vector<uint8_t> room(lwsnode::kMaxFrameHeader);
  uint8_t* end = room.data() + room.size();
  const uint8_t n = lwsnode::writeFrameHeader(end, fin, op, static_cast<size_t>(len));
  if (n > lwsnode::kMaxFrameHeader) std::abort();
  check(end - n, n, fin, op, len, n);

  // Frame::create for small lengths: wire() is header + payload, and refcounting frees once.
  const size_t small = static_cast<size_t>(len % 70000);
  lwsnode::FrameRef f = lwsnode::Frame::create(op, small);
  if (!f) return 0;
  std::memset(f->payload(), 0xA5, small);
  if (f->wireLength() != minimalHeader(small) + small) std::abort();
  check(f->wire(), f->wireLength(), true, op, small, f->wireLength() - small);
  {
    lwsnode::FrameRef copy = f;
    lwsnode::FrameRef moved = std::move(copy);
    lwsnode::FrameRef assigned;
    assigned = moved;
    if (assigned->payloadLength() != small) std::abort();
  }
  return 0;
}
