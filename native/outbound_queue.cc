// A Connection's outbound side: frames queued (bounded by maxBackpressure for publishes,
// compressed when negotiated, counted in bufferedAmount) and written at once, coalesced, or as
// fragments, with what the kernel refused left to lws and WRITEABLE; drain reported when empty.
#include "connection.h"

#include <libwebsockets.h>

#include <algorithm>
#include <cstring>

#include "deflater.h"
#include "mask.h"
#include "options.h"
#include "reactor.h"

namespace lwsnode {

namespace {

// Subtracting from an atomic double: only the I/O thread writes it, so load + store is exact.
void addTo(std::atomic<double>& counter, double delta) {
  counter.store(counter.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}

// The share of a frame's account length covered by its first `offset` payload bytes: a
// compressed message leaves bufferedAmount in proportion as its fragments are written.
size_t accounted(const Frame& f, size_t offset) {
  if (offset >= f.payloadLength()) return f.accountLength();
  return static_cast<size_t>(static_cast<double>(f.accountLength()) * static_cast<double>(offset) /
                             static_cast<double>(f.payloadLength()));
}

}  // namespace

// Inlined into deliver(): a publish's fan-out runs it once per receiver.
[[gnu::always_inline]] inline size_t Connection::push(const FrameRef& frame, bool countedByJs) {
  const size_t len = frame->accountLength();
  if (!countedByJs) addTo(counter_, static_cast<double>(len));
  queuedBytes_ += len;
  queue_.push(frame);
  if (!dirty_) reactor_.markDirty(*this);
  return len;
}

void Connection::enqueue(FrameRef frame, uint32_t flags, bool countedByJs) {
  if (closeRequested_ || sentClose_) return;  // JS sees the close soon; nothing more goes out
  if (flags & kNotifyDrain) notifyDrain_ = true;
  if (!frame) {  // only a drain watch: the flush reports an idle queue at once
    markDirty();
    return;
  }
  if (deflater_ && frame->compressible() && frame->payloadLength() >= limits_.deflateThreshold) {
    if (FrameRef twin = deflater_->deflated(*frame)) frame = std::move(twin);
  }
  stats_.add(ServerStats::QueuedBytes, static_cast<double>(push(frame, countedByJs)));
}

size_t Connection::deliver(const FrameRef& frame, bool countedByJs) {
  // A publish was counted in the socket's bufferedAmount by JS when it was made (the fan-out
  // comes later, here). Once closing it stays counted, like every byte that will never be
  // written; a drop takes it out again, so bufferedAmount stays exact.
  if (closeRequested_ || sentClose_) return 0;
  const ConnectionLimits& limits = limits_;
  if (queuedBytes_ >= limits.maxBackpressure) [[unlikely]] {
    refuse(*frame, countedByJs);
    return 0;
  }
  if (deflater_ && frame->compressible() && frame->payloadLength() >= limits.deflateThreshold) {
    if (FrameRef twin = deflater_->deflated(*frame)) return push(twin, countedByJs);
  }
  return push(frame, countedByJs);
}

void Connection::refuse(const Frame& frame, bool countedByJs) {
  if (countedByJs) addTo(counter_, -static_cast<double>(frame.accountLength()));
  stats_.add(ServerStats::Dropped, 1);
  if (limits_.closeOnBackpressureLimit) close(LWS_CLOSE_STATUS_POLICY_VIOLATION, "backpressure limit", true);
}

void Connection::requestWritable() { lws_callback_on_writable(wsi_); }

void Connection::markDirty() {
  if (!dirty_) reactor_.markDirty(*this);
}

size_t Connection::wireLength(const Frame& frame) const {
  return frame.wireLength() + (masked_ ? kMaskKeyLength : 0);
}

size_t Connection::copyFrame(uint8_t* dst, const Frame& frame) {
  if (!masked_) {
    std::memcpy(dst, frame.wire(), frame.wireLength());
    return frame.wireLength();
  }
  return putMaskedFrame(dst, frame.wire(), frame.wireLength() - frame.payloadLength(), frame.payload(),
                        frame.payloadLength(), reactor_.maskKeys());
}


bool Connection::writeOnce() {
  size_t written = 0;  // message bytes handed to lws (before compression: see accountLength)
  size_t frames = 0;   // whole messages finished
  uint8_t* base = reactor_.scratch() + LWS_PRE;
  Frame& front = queue_.front();
  if (front.payloadLength() > Reactor::kFragmentPayload) {
    // A large message goes out as fragments of at most kFragmentPayload, each a whole frame
    // built in the scratch buffer (lws may put a pong or close between fragments; never
    // inside one). lws keeps at most one fragment that the kernel refused, so memory and
    // bufferedAmount stay exact to within one fragment.
    const size_t chunk = std::min(Reactor::kFragmentPayload, front.payloadLength() - frontOffset_);
    const bool first = frontOffset_ == 0;
    const bool last = frontOffset_ + chunk == front.payloadLength();
    const Opcode opcode = first ? front.opcode() : Opcode::Continuation;
    // RFC 7692: only a compressed message's first frame carries RSV1.
    const bool rsv1 = first && front.compressed();
    if (masked_) {
      uint8_t header[kMaxFrameHeader];
      const uint8_t n = writeFrameHeader(header + kMaxFrameHeader, last, opcode, chunk, rsv1);
      const size_t len = putMaskedFrame(base, header + kMaxFrameHeader - n, n, front.payload() + frontOffset_,
                                        chunk, reactor_.maskKeys());
      if (lws_write(wsi_, base, len, LWS_WRITE_RAW) < 0) return false;
    } else {
      // No copy: the fragment's header is written over the kMaxFrameHeader bytes in front of
      // its payload (the frame's own header room, or payload that an earlier fragment already
      // handed to lws) and put back once lws_write returns, which has sent or copied the
      // fragment. Frames are shared (a publish), but only this thread touches them now and
      // nothing reads this one during the call.
      uint8_t* payload = front.payload() + frontOffset_;
      uint8_t saved[kMaxFrameHeader];
      std::memcpy(saved, payload - kMaxFrameHeader, kMaxFrameHeader);
      const uint8_t header = writeFrameHeader(payload, last, opcode, chunk, rsv1);
      const int wrote = lws_write(wsi_, payload - header, header + chunk, LWS_WRITE_RAW);
      std::memcpy(payload - kMaxFrameHeader, saved, kMaxFrameHeader);
      if (wrote < 0) return false;
    }
    written = accounted(front, frontOffset_ + chunk) - accounted(front, frontOffset_);
    frontOffset_ += chunk;
    if (last) {
      frontOffset_ = 0;
      frames = 1;
      queue_.pop();
    }
  } else if (queue_.size() == 1 || front.wireLength() * 2 > Reactor::kCoalesceLimit) {
    // One frame, written whole from its own buffer (a client's masked copy from scratch).
    if (masked_) {
      if (lws_write(wsi_, base, copyFrame(base, front), LWS_WRITE_RAW) < 0) return false;
    } else if (lws_write(wsi_, front.wire(), front.wireLength(), LWS_WRITE_RAW) < 0) {
      return false;
    }
    written = front.accountLength();
    frames = 1;
    queue_.pop();
  } else {
    // Coalesce: one memcpy per small frame beats one syscall per frame.
    size_t used = 0;
    while (!queue_.empty()) {
      const Frame& f = queue_.front();
      if (used + wireLength(f) > Reactor::kCoalesceLimit) break;
      used += copyFrame(base + used, f);
      written += f.accountLength();
      ++frames;
      queue_.pop();
    }
    if (lws_write(wsi_, base, used, LWS_WRITE_RAW) < 0) return false;
  }
  // lws took it all: what the kernel refused is in lws's buflist, bounded by one write.
  addTo(counter_, -static_cast<double>(written));
  queuedBytes_ -= written;
  ServerStats& stats = stats_;
  stats.add(ServerStats::QueuedBytes, -static_cast<double>(written));
  stats.add(ServerStats::BytesOut, static_cast<double>(written));
  stats.add(ServerStats::MessagesOut, static_cast<double>(frames));
  return true;
}

bool Connection::writeQueued() {
  // Each write goes on only while lws holds nothing: a refused remainder means the kernel's
  // buffer is full, and lws's WRITEABLE (asked for by lws itself) resumes once it drains.
  while (!queue_.empty() && !lws_has_buffered_out(wsi_))
    if (!writeOnce()) return false;
  return true;
}

int Connection::onWritable() {
  if (!writeQueued()) return -1;
  if (!queue_.empty()) {
    requestWritable();  // lws asked already if it buffered; this covers the rest
    return 0;
  }
  if (closeRequested_ && !sentClose_) {
    // The queue is written: our Close is the last frame (see onCloseHold).
    sentClose_ = true;
    lettingGo_ = true;
    Closing& c = closing();
    lws_close_reason(wsi_, static_cast<lws_close_status>(c.code),
                     reinterpret_cast<unsigned char*>(c.reason.data()), c.reason.size());
    return -1;
  }
  if (notifyDrain_) {
    notifyDrain_ = false;
    reactor_.events().push(EventType::Drain, slot_);
  }
  return 0;
}

void Connection::flush() {
  dirty_ = false;
  // After a close frame (ours or the peer's) lws writes only its close; WRITEABLE is never
  // delivered to us again, as before.
  if (sentClose_ || peerClosed_) return;
  if (lws_has_buffered_out(wsi_)) {
    // lws still holds part of an earlier write: it asked for WRITEABLE, which goes on.
    requestWritable();
    return;
  }
  if (!writeQueued()) {
    // The socket failed under the write: lws closes it (CLOSED follows) in its next turn.
    terminate();
    reactor_.needLwsTurn();
    return;
  }
  // A close waits for the queue; it leaves from WRITEABLE (returning -1 there sends it).
  if (!queue_.empty() || closeRequested_) {
    requestWritable();
    return;
  }
  if (notifyDrain_) {
    notifyDrain_ = false;
    reactor_.events().push(EventType::Drain, slot_);
  }
}

}  // namespace lwsnode
