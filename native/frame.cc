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

namespace {
// +1 so a UTF-8 string writer that appends a terminating NUL stays in bounds.
size_t blockBytes(size_t payloadLen) { return kAlignedFrameSize + LWS_PRE + kMaxFrameHeader + payloadLen + 1; }
}  // namespace

FrameRef Frame::create(Opcode opcode, size_t payloadLen, bool compressed) {
  void* mem = std::malloc(blockBytes(payloadLen));
  if (!mem) return FrameRef();
  return FrameRef(construct(mem, opcode, payloadLen, compressed));
}

FrameRef Frame::create(FramePool& pool, Opcode opcode, size_t payloadLen) {
  if (blockBytes(payloadLen) > FramePool::kBlockBytes) return create(opcode, payloadLen);
  void* mem = pool.take();
  if (!mem) return FrameRef();
  Frame* frame = construct(mem, opcode, payloadLen, false);
  frame->pool_ = &pool;
  return FrameRef(frame);
}

FrameRef Frame::create(LargeBlockPool& pool, Opcode opcode, size_t payloadLen) {
  const size_t bytes = blockBytes(payloadLen);
  if (bytes < LargeBlockPool::kMinBlock) return create(opcode, payloadLen);
  uint8_t* mem = pool.take(bytes);
  if (!mem) return FrameRef();
  Frame* frame = construct(mem, opcode, payloadLen, false);
  frame->largeBlock_ = true;
  return FrameRef(frame);
}

Frame* Frame::construct(void* mem, Opcode opcode, size_t payloadLen, bool compressed) {
  uint8_t* payload = static_cast<uint8_t*>(mem) + kAlignedFrameSize + LWS_PRE + kMaxFrameHeader;
  const uint8_t headerLen = writeFrameHeader(payload, true, opcode, payloadLen, compressed);
  return new (mem) Frame(opcode, payloadLen, payload, headerLen, compressed);
}

}  // namespace lwsnode
