#include "connection.h"

#include <libwebsockets.h>

#include <algorithm>
#include <cstring>

#include "deflater.h"
#include "mask.h"
#include "options.h"
#include "reactor.h"
#include "server.h"
#include "topic.h"

namespace lwsnode {

namespace {
// Subtracting from an atomic double: only the I/O thread writes it, so load + store is exact.
void addTo(std::atomic<double>& counter, double delta) {
  counter.store(counter.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}

// A message's first piece reserves at most this many times its own size for the rest of its
// first frame (see onReceive): bounds what a header that lies can make us reserve.
constexpr size_t kRxReserveFactor = 16;

// The share of a frame's account length covered by its first `offset` payload bytes: a
// compressed message leaves bufferedAmount in proportion as its fragments are written.
size_t accounted(const Frame& f, size_t offset) {
  if (offset >= f.payloadLength()) return f.accountLength();
  return static_cast<size_t>(static_cast<double>(f.accountLength()) * static_cast<double>(offset) /
                             static_cast<double>(f.payloadLength()));
}
}  // namespace

Connection::Connection(Reactor& reactor, Server* server, const ConnectionLimits& limits, ServerStats& stats, lws* wsi,
                       uint32_t slot)
    : reactor_(reactor),
      server_(server),
      limits_(limits),
      stats_(stats),
      wsi_(wsi),
      slot_(slot),
      counter_(reactor.slots().counter(slot)),
      lastActivityMs_(reactor.nowMs()),
      masked_(server == nullptr) {}

Connection::~Connection() {
  if (closing_) closing_->deadline.cancel();  // runs in CLOSED, while the context is alive
  reactor_.forgetPaused(*this);
  if (dirty_) reactor_.forgetDirty(*this);
}

Connection::Closing& Connection::closing() {
  if (!closing_) {
    closing_ = std::make_unique<Closing>();
    closing_->deadline.owner = this;
  }
  return *closing_;
}

// ---- inbound ----

int Connection::onReceive(const void* in, size_t len) {
  // lws keeps parsing what follows a client's close frame; RFC 6455 5.5.1: no data after it.
  if (peerClosed_) return 0;
  const bool first = lws_is_first_fragment(wsi_);
  const bool final = lws_is_final_fragment(wsi_);  // FIN frame and none of it left to read
  const size_t frameRemaining = lws_remaining_packet_payload(wsi_);
  const size_t max = limits_.maxPayloadLength;
  EventBatch& events = reactor_.events();
  lastActivityMs_ = reactor_.nowMs();
  pingOutstanding_ = false;

  if (first) {
    rxBinary_ = lws_frame_is_binary(wsi_) != 0;
    rxActive_ = true;
    rx_.clear();
    utf8_.reset();
  }
  if (!rxActive_) return failMessage(LWS_CLOSE_STATUS_PROTOCOL_ERR, "unexpected continuation");
  if (!rxBinary_) {
    // Text is validated here, incrementally across fragments, rather than by lws's
    // VALIDATE_UTF8 option: lws would close with 1007 without telling us, and the close
    // handler must report the code that was sent.
    if (!utf8_.feed(static_cast<const uint8_t*>(in), len) || (final && !utf8_.complete()))
      return failMessage(LWS_CLOSE_STATUS_INVALID_PAYLOAD, "invalid UTF-8");
  }

  if (final && rx_.empty()) {
    // The whole message arrived in one piece: one copy, straight into the event batch.
    if (len > max) return failMessage(LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too big");
    if (!events.pushCopy(EventType::Message, slot_, rxBinary_, in, len))
      return failMessage(LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    rxActive_ = false;
    stats_.add(ServerStats::MessagesIn, 1);
    stats_.add(ServerStats::BytesIn, static_cast<double>(len));
  } else {
    if (rx_.size() + len + frameRemaining > max)
      return failMessage(LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too big");
    // Grow with what arrived, not with what a header announces (a peer could announce large
    // frames on many sockets and never send them), except that the first piece of a frame
    // may reserve the rest of it up to kRxReserveFactor times its own size: a message that
    // spans reads is then copied once, not again by every doubling of its buffer.
    if (first) {
      const size_t have = rx_.size() + len;
      if (!rx_.reserve(have + std::min(frameRemaining, (kRxReserveFactor - 1) * have)))
        return failMessage(LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    }
    if (!rx_.append(in, len))
      return failMessage(LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    if (!final) return 0;
    const double size = static_cast<double>(rx_.size());
    if (!events.pushOwned(EventType::Message, slot_, rxBinary_, std::move(rx_)))
      return failMessage(LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    rx_ = Bytes();
    rxActive_ = false;
    stats_.add(ServerStats::MessagesIn, 1);
    stats_.add(ServerStats::BytesIn, size);
  }
  if (!readsPaused_ && reactor_.inboundCongested()) {
    readsPaused_ = true;
    reactor_.pauseReads(*this);
  }
  return 0;
}

int Connection::failMessage(int code, const char* reason) {
  // lws asks to send this close next (onCloseHold): it is held until JS saw what came before.
  closing().code = code;
  closing().reason = reason;
  lws_close_reason(wsi_, static_cast<lws_close_status>(code),
                   reinterpret_cast<unsigned char*>(const_cast<char*>(reason)), std::strlen(reason));
  return -1;
}

void Connection::resumeReads() {
  if (!readsPaused_) return;
  readsPaused_ = false;
  if (!readsHeld_) lws_rx_flow_control(wsi_, 1);
}

void Connection::holdReads(bool hold) {
  if (readsHeld_ == hold) return;
  readsHeld_ = hold;
  if (hold)
    lws_rx_flow_control(wsi_, 0);
  else if (!readsPaused_)
    lws_rx_flow_control(wsi_, 1);
}

int Connection::onPeerClose(const uint8_t* in, size_t len) {
  // RFC 6455 5.5.1: a close payload is empty or a 2-byte code plus a UTF-8 reason. (lws has
  // already replaced a code that may not be sent on the wire with 1002.)
  if (len == 1) return failMessage(LWS_CLOSE_STATUS_PROTOCOL_ERR, "bad close payload");
  if (len > 2) {
    Utf8Validator reasonUtf8;
    if (!reasonUtf8.feed(in + 2, len - 2) || !reasonUtf8.complete())
      return failMessage(LWS_CLOSE_STATUS_INVALID_PAYLOAD, "invalid UTF-8");
  }
  peerClosed_ = true;
  if (len >= 2) {
    closing().peerCode = (in[0] << 8) | in[1];
    closing().peerReason.assign(reinterpret_cast<const char*>(in + 2), len - 2);
  } else {
    closing().peerCode = LWS_CLOSE_STATUS_NO_STATUS;
  }
  if (closeRequested_ || sentClose_) return 0;  // our close is on its way: lws answers as usual
  // Our reply echoes the peer's code (an empty close gets 1000) once JS has answered what
  // arrived before it.
  Closing& c = closing();
  c.code = c.peerCode == LWS_CLOSE_STATUS_NO_STATUS ? LWS_CLOSE_STATUS_NORMAL : c.peerCode;
  c.reason = c.peerReason;
  holdClose();
  return LWS_PEER_CLOSE_HOLD;
}

bool Connection::onCloseHold(const uint8_t* in, size_t len) {
  if (lettingGo_ || holding_) return false;
  if (!closeRequested_ && !peerClosed_ && len >= 2) {
    // A close lws started itself (a framing error): report its code.
    closing().code = (in[0] << 8) | in[1];
    closing().reason.assign(reinterpret_cast<const char*>(in + 2), len - 2);
  }
  holdClose();
  return true;
}

void Connection::holdClose() {
  holding_ = true;
  holdBatch_ = reactor_.holdClose(*this);
  armCloseDeadline();
}

bool Connection::releaseHeldClose(uint32_t seenBatch) {
  if (!holding_) return true;
  // Batch numbers wrap: compare by difference.
  if (static_cast<int32_t>(seenBatch - holdBatch_) < 0) return false;
  holding_ = false;
  closeRequested_ = true;  // onWritable writes the queue, then this close
  requestWritable();
  return true;
}

void Connection::onPong(const void* in, size_t len) {
  lastActivityMs_ = reactor_.nowMs();
  pingOutstanding_ = false;
  reactor_.events().pushCopy(EventType::Pong, slot_, 0, in, len);
}

void Connection::onPing(const void* in, size_t len) {
  lastActivityMs_ = reactor_.nowMs();
  reactor_.events().pushCopy(EventType::Ping, slot_, 0, in, len);
  // RFC 6455 5.5.2: every ping is answered, in order with our frames (lws patch 0500 leaves
  // pongs to us; it kept one pending and dropped the pings behind it).
  if (len <= 125) {
    if (FrameRef pong = Frame::create(Opcode::Pong, len)) {
      if (len) std::memcpy(pong->payload(), in, len);
      enqueue(std::move(pong), 0, false);
    }
  }
}

bool Connection::checkIdle(uint64_t nowMs, uint64_t idleMs, bool sendPings, const FrameRef& ping) {
  const uint64_t silent = nowMs - lastActivityMs_;
  if (sendPings && !pingOutstanding_) {
    // Ping once silence passes half the timeout (by the next tick at the latest), and never
    // drop a socket that has not had an unanswered ping.
    if (silent + Reactor::kIdleTickMs > idleMs / 2) {
      pingOutstanding_ = true;
      enqueue(ping, 0, false);
    }
    return false;
  }
  if (silent < idleMs) return false;
  terminate();
  return true;
}

bool Connection::isSubscribed(const Topic& topic) const {
  for (const Subscription& s : subscriptions_)
    if (s.topic == &topic) return true;
  return false;
}

int64_t Connection::left(const Topic& topic) {
  for (size_t i = 0; i < subscriptions_.size(); ++i) {
    if (subscriptions_[i].topic != &topic) continue;
    const uint32_t index = subscriptions_[i].index;
    subscriptions_[i] = subscriptions_.back();
    subscriptions_.pop_back();
    return index;
  }
  return -1;
}

void Connection::moved(const Topic& topic, uint32_t index) {
  for (Subscription& s : subscriptions_)
    if (s.topic == &topic) s.index = index;
}

std::vector<Topic*> Connection::topics() const {
  std::vector<Topic*> out;
  out.reserve(subscriptions_.size());
  for (const Subscription& s : subscriptions_) out.push_back(s.topic);
  return out;
}

void Connection::onClosed() {
  stats_.add(ServerStats::QueuedBytes, -static_cast<double>(queuedBytes_));
  int code = LWS_CLOSE_STATUS_ABNORMAL_CLOSE;
  const std::string* reason = nullptr;
  std::string lwsReason;
  if (peerClosed_) {
    code = closing().peerCode;
    reason = &closing().peerReason;
  } else if (sentClose_ || closeRequested_ || holding_) {
    // We closed first: report our code even if a stuck peer never got the frame.
    code = closing().code;
    reason = &closing().reason;
  } else if (lws_get_close_length(wsi_) >= 2) {
    // lws failed the connection itself (a protocol error it detected) and sent this close.
    const uint8_t* payload = lws_get_close_payload(wsi_);
    code = (payload[0] << 8) | payload[1];
    lwsReason.assign(reinterpret_cast<const char*>(payload + 2), lws_get_close_length(wsi_) - 2);
    reason = &lwsReason;
  }
  EventBatch& events = reactor_.events();
  if (reason)
    events.pushCopy(EventType::Close, slot_, static_cast<uint32_t>(code), reason->data(), reason->size());
  else
    events.push(EventType::Close, slot_, static_cast<uint32_t>(code));
}

// ---- outbound ----

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
  const size_t len = frame->accountLength();
  if (!countedByJs) addTo(counter_, static_cast<double>(len));
  queuedBytes_ += len;
  stats_.add(ServerStats::QueuedBytes, static_cast<double>(len));
  queue_.push_back(std::move(frame));
  markDirty();
}

void Connection::deliver(const FrameRef& frame, bool countedByJs) {
  // A publish was counted in the socket's bufferedAmount by JS when it was made (the fan-out
  // comes later, here). Once closing it stays counted, like every byte that will never be
  // written; a drop takes it out again, so bufferedAmount stays exact.
  if (closeRequested_ || sentClose_) return;
  const ConnectionLimits& limits = limits_;
  if (queuedBytes_ >= limits.maxBackpressure) {
    if (countedByJs) addTo(counter_, -static_cast<double>(frame->accountLength()));
    stats_.add(ServerStats::Dropped, 1);
    if (limits.closeOnBackpressureLimit) close(LWS_CLOSE_STATUS_POLICY_VIOLATION, "backpressure limit", true);
    return;
  }
  enqueue(frame, 0, countedByJs);
}

void Connection::close(int code, const std::string& reason, bool discardQueue) {
  if (sentClose_) return;
  if (holding_) {
    // JS closes while a close of ours waits for it: its code goes out instead, after the queue.
    holding_ = false;
    closeRequested_ = false;
  }
  if (discardQueue && head_ < queue_.size()) {
    // Slow-consumer policy: what is queued will never be written (it stays in bufferedAmount).
    stats_.add(ServerStats::QueuedBytes, -static_cast<double>(queuedBytes_));
    queuedBytes_ = 0;
    queue_.clear();
    head_ = 0;
    frontOffset_ = 0;
  }
  if (closeRequested_) return;
  closeRequested_ = true;
  closing().code = code;
  closing().reason = reason;
  armCloseDeadline();
  requestWritable();
}

void Connection::armCloseDeadline() {
  const lws_usec_t us = static_cast<lws_usec_t>(limits_.closeTimeoutMs) * LWS_US_PER_MS;
  closing().deadline.schedule(lws_get_context(wsi_), &Connection::onCloseDeadline, us);
}

void Connection::onCloseDeadline(lws_sorted_usec_list_t* sul) {
  Connection* self = SulTimer<Connection>::ownerOf(sul);
  if (self->holding_) {
    // JS did not answer in time: the held close goes now, after what is queued.
    self->releaseHeldClose(self->holdBatch_);
    self->armCloseDeadline();
    return;
  }
  lws_set_timeout(self->wsi_, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

void Connection::terminate() {
  // Asynchronous kill: the CLOSED callback follows on this thread, outside this call.
  lws_set_timeout(wsi_, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
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

void Connection::popFront() {
  queue_[head_] = FrameRef();
  if (++head_ == queue_.size()) {
    // Empty again. Keep a small vector for the next burst; give a large one back, so an idle
    // connection does not keep the memory of its busiest moment.
    if (queue_.capacity() > 1024) std::vector<FrameRef>().swap(queue_);
    queue_.clear();
    head_ = 0;
  }
}

bool Connection::writeOnce() {
  size_t written = 0;  // message bytes handed to lws (before compression: see accountLength)
  size_t frames = 0;   // whole messages finished
  uint8_t* base = reactor_.scratch() + LWS_PRE;
  Frame& front = *queue_[head_];
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
      popFront();
    }
  } else if (head_ + 1 == queue_.size() || front.wireLength() * 2 > Reactor::kCoalesceLimit) {
    // One frame, written whole from its own buffer (a client's masked copy from scratch).
    if (masked_) {
      if (lws_write(wsi_, base, copyFrame(base, front), LWS_WRITE_RAW) < 0) return false;
    } else if (lws_write(wsi_, front.wire(), front.wireLength(), LWS_WRITE_RAW) < 0) {
      return false;
    }
    written = front.accountLength();
    frames = 1;
    popFront();
  } else {
    // Coalesce: one memcpy per small frame beats one syscall per frame.
    size_t used = 0;
    while (head_ < queue_.size()) {
      const Frame& f = *queue_[head_];
      if (used + wireLength(f) > Reactor::kCoalesceLimit) break;
      used += copyFrame(base + used, f);
      written += f.accountLength();
      ++frames;
      popFront();
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
  while (head_ < queue_.size() && !lws_has_buffered_out(wsi_))
    if (!writeOnce()) return false;
  return true;
}

int Connection::onWritable() {
  if (!writeQueued()) return -1;
  if (head_ < queue_.size()) {
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
  if (head_ < queue_.size() || closeRequested_) {
    requestWritable();
    return;
  }
  if (notifyDrain_) {
    notifyDrain_ = false;
    reactor_.events().push(EventType::Drain, slot_);
  }
}

}  // namespace lwsnode
