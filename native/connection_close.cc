// A Connection's closing handshake (RFC 6455 5.5.1, see Connection::onCloseHold): closes we
// start, closes the peer starts, closes held until JS has seen what came before them, the
// closeTimeout deadline, and the Close event.
#include "connection.h"

#include <libwebsockets.h>

#include <cstring>

#include "options.h"
#include "reactor.h"

namespace lwsnode {

int Connection::failMessage(int code, const char* reason) {
  // lws asks to send this close next (onCloseHold): it is held until JS saw what came before.
  closing().code = code;
  closing().reason = reason;
  lws_close_reason(wsi_, static_cast<lws_close_status>(code),
                   reinterpret_cast<unsigned char*>(const_cast<char*>(reason)), std::strlen(reason));
  return -1;
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
  closing().holdBatch = reactor_.holdClose(*this);
  armCloseDeadline();
}

bool Connection::releaseHeldClose(uint32_t seenBatch) {
  if (!holding_) return true;
  // Batch numbers wrap: compare by difference.
  if (static_cast<int32_t>(seenBatch - closing_->holdBatch) < 0) return false;  // holding: closing_ is set
  holding_ = false;
  closeRequested_ = true;  // onWritable writes the queue, then this close
  requestWritable();
  return true;
}

void Connection::close(int code, const std::string& reason, bool discardQueue) {
  if (sentClose_) return;
  if (holding_) {
    // JS closes while a close of ours waits for it: its code goes out instead, after the queue.
    holding_ = false;
    closeRequested_ = false;
  }
  if (discardQueue && !queue_.empty()) {
    // Slow-consumer policy: what is queued will never be written (it stays in bufferedAmount).
    stats_.add(ServerStats::QueuedBytes, -static_cast<double>(queuedBytes_));
    queuedBytes_ = 0;
    queue_.clear();
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
    self->releaseHeldClose(self->closing_->holdBatch);
    self->armCloseDeadline();
    return;
  }
  lws_set_timeout(self->wsi_, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

void Connection::terminate() {
  // Asynchronous kill: the CLOSED callback follows on this thread, outside this call.
  lws_set_timeout(wsi_, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
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

}  // namespace lwsnode
