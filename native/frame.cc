#include "frame.h"

#include <libwebsockets.h>

#include <new>

namespace lwsnode {

namespace {
// A server frame header is at most 2 + 8 bytes (no mask key).
constexpr size_t kMaxHeader = 10;
constexpr size_t kAlignedFrameSize = (sizeof(Frame) + 15) & ~size_t{15};

uint8_t writeHeader(uint8_t* end, Opcode opcode, size_t len) {
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
  end[-n] = static_cast<uint8_t>(0x80 | static_cast<uint8_t>(opcode));  // FIN + opcode
  return n;
}
}  // namespace

FrameRef Frame::create(Opcode opcode, size_t payloadLen) {
  // +1 so a UTF-8 string writer that appends a terminating NUL stays in bounds.
  const size_t total = kAlignedFrameSize + LWS_PRE + kMaxHeader + payloadLen + 1;
  void* mem = std::malloc(total);
  if (!mem) return FrameRef();
  uint8_t* payload = static_cast<uint8_t*>(mem) + kAlignedFrameSize + LWS_PRE + kMaxHeader;
  const uint8_t headerLen = writeHeader(payload, opcode, payloadLen);
  return FrameRef(new (mem) Frame(payloadLen, payload, headerLen));
}

}  // namespace lwsnode
