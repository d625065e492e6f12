#include "deflater.h"

#include <cstring>

namespace lwsnode {

namespace {
// RFC 7692 7.2.1: a sync flush ends with this empty stored block, which the sender removes.
constexpr uint8_t kTail[4] = {0x00, 0x00, 0xff, 0xff};
// An output buffer grown past this by one big message is given back afterwards.
constexpr size_t kKeepOutput = 1 << 20;
}  // namespace

Deflater::~Deflater() {
  if (ready_) deflateEnd(&zs_);
}

FrameRef Deflater::deflated(Frame& frame) {
  const uint16_t bit = static_cast<uint16_t>(1u << windowBits_);
  if (!(frame.triedWindows_ & bit)) {
    frame.triedWindows_ |= bit;
    if (frame.payloadLength() > 0 && frame.payloadLength() < (size_t{1} << 31) &&
        compress(frame.payload(), frame.payloadLength())) {
      FrameRef twin = Frame::create(frame.opcode(), out_.size(), true);
      if (twin) {
        std::memcpy(twin->payload(), out_.data(), out_.size());
        twin->accountLen_ = frame.payloadLength();
        twin->window_ = static_cast<uint8_t>(windowBits_);
        twin->deflated_ = frame.deflated_;  // the chain moves behind the new twin
        frame.deflated_ = twin.share();
      }
    }
    if (out_.capacity() > kKeepOutput) std::vector<uint8_t>().swap(out_);
  }
  for (Frame* twin = frame.deflated_; twin; twin = twin->deflated_)
    if (twin->window_ == windowBits_) return FrameRef::retain(twin);
  return FrameRef();  // not smaller with this window, or out of memory
}

bool Deflater::compress(const uint8_t* in, size_t len) {
  if (!ready_) {
    // Raw deflate (negative window bits) with the window the peer accepts (RFC 7692 7.1.2).
    if (deflateInit2(&zs_, level_, Z_DEFLATED, -windowBits_, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
    ready_ = true;
  }
  out_.resize(deflateBound(&zs_, static_cast<uLong>(len)) + 16);
  zs_.next_in = const_cast<Bytef*>(in);
  zs_.avail_in = static_cast<uInt>(len);
  zs_.next_out = out_.data();
  zs_.avail_out = static_cast<uInt>(out_.size());
  const int rc = deflate(&zs_, Z_SYNC_FLUSH);
  const size_t produced = out_.size() - zs_.avail_out;
  const bool complete = rc == Z_OK && zs_.avail_in == 0 && zs_.avail_out > 0;
  deflateReset(&zs_);  // the next message starts from an empty window: no context takeover
  if (!complete || produced < sizeof kTail || std::memcmp(out_.data() + produced - 4, kTail, 4) != 0) return false;
  const size_t size = produced - sizeof kTail;
  if (size >= len) return false;  // not worth a compressed frame
  out_.resize(size);
  return true;
}

}  // namespace lwsnode
