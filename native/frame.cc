#include "frame.h"

#include <libwebsockets.h>

#include <new>

namespace lwsnode {

namespace {
constexpr size_t kAlignedFrameSize = (sizeof(Frame) + 15) & ~size_t{15};

}  // namespace

uint8_t writeFrameHeader(uint8_t* end, bool fin, Opcode opcode, size_t len, bool rsv1) {
  // Written backwards from the payload start so the header always touches the payload.
  uint8_t n;
  if (len < 126) {
    end[-1] = static_cast<uint8_t>(len);
    n = 2;
  } else if (len <= 0xffff) {
    end[-3] = 126;
    end[-2] = static_cast<uint8_t>(len >> 8);
    end[-1] = static_cast<uint8_t>(len);
    n = 4;
  } else {
    end[-9] = 127;
    for (int i = 0; i < 8; ++i) end[-1 - i] = static_cast<uint8_t>(static_cast<uint64_t>(len) >> (8 * i));
    n = 10;
  }
  end[-n] = static_cast<uint8_t>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | static_cast<uint8_t>(opcode));
  return n;
}

Frame::~Frame() { FrameRef adopt(deflated_); }

FrameRef Frame::create(Opcode opcode, size_t payloadLen, bool compressed) {
  // +1 so a UTF-8 string writer that appends a terminating NUL stays in bounds.
  const size_t total = kAlignedFrameSize + LWS_PRE + kMaxFrameHeader + payloadLen + 1;
  void* mem = std::malloc(total);
  if (!mem) return FrameRef();
  uint8_t* payload = static_cast<uint8_t*>(mem) + kAlignedFrameSize + LWS_PRE + kMaxFrameHeader;
  const uint8_t headerLen = writeFrameHeader(payload, true, opcode, payloadLen, compressed);
  return FrameRef(new (mem) Frame(opcode, payloadLen, payload, headerLen, compressed));
}

}  // namespace lwsnode
