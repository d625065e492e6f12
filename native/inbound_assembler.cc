// A Connection's inbound side: fragments reassembled into whole messages (UTF-8 checked as
// they come, maxPayloadLength enforced), handed to the event batch; and the two holds on reads
// (the reactor's inbound flow control, a JS consumer's holdReads).
#include "connection.h"

#include <libwebsockets.h>

#include <algorithm>

#include "options.h"
#include "reactor.h"

namespace lwsnode {
namespace {
// A message's first piece reserves at most this many times its own size for the rest of its
// first frame (see onReceive): bounds what a header that lies can make us reserve.
constexpr size_t kRxReserveFactor = 16;
}  // namespace

// A message that arrived in one piece: small ones are copied into the batch's slab, large ones
// into a pooled block that becomes JS's Buffer (recycled when V8 collects it).
// `key`: the payload is still masked (lws patch 1001) and is unmasked as it is copied.
bool Connection::pushWhole(EventBatch& events, const void* in, size_t len, const uint8_t* key) {
  if (len < EventBatch::kLargePayload) return events.pushCopy(EventType::Message, slot_, rxBinary_, in, len);
  Bytes own;
  if (!own.reservePooled(len, reactor_.largePool()) || !(key ? own.appendUnmasked(in, len, key) : own.append(in, len)))
    return false;
  return events.pushOwned(EventType::Message, slot_, rxBinary_, std::move(own));
}

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
  // A server's bulk payload comes still masked (lws patch 1001): a large binary piece is
  // unmasked as it is copied into its message; text (the validator reads it) and a small
  // message (copied into the slab) are unmasked where they lie, in lws's read buffer.
  uint8_t keyBytes[kMaskKeyLength];
  const uint8_t* key = lws_ws_rx_payload_mask(wsi_, keyBytes) ? keyBytes : nullptr;
  if (key && (!rxBinary_ || (final && rx_.empty() && len < EventBatch::kLargePayload))) {
    uint8_t* bytes = static_cast<uint8_t*>(const_cast<void*>(in));  // lws's read buffer: ours during RECEIVE
    xorCopy(bytes, bytes, len, key);
    key = nullptr;
  }
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
    if (!pushWhole(events, in, len, key)) return failMessage(LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
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
      const size_t want = have + std::min(frameRemaining, (kRxReserveFactor - 1) * have);
      if (!(want >= LargeBlockPool::kMinBlock ? rx_.reservePooled(want, reactor_.largePool()) : rx_.reserve(want)))
        return failMessage(LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    }
    if (!(key ? rx_.appendUnmasked(in, len, key) : rx_.append(in, len)))
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

}  // namespace lwsnode
