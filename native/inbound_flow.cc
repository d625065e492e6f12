// Inbound flow control: reads stop while JS holds more than kInboundHighWater undelivered
// inbound bytes and resume, all together, when JS has consumed half of it.
#include "reactor.h"

#include <libwebsockets.h>

#include <algorithm>

#include "connection.h"

namespace lwsnode {

// ---- JS thread ----

void Reactor::eventsConsumed(size_t bytes) {
  // Cross-thread: the outbox's mutex hands back the count; ResumeReads goes through the queue.
  const size_t left = outbox_.consumed(bytes);
  if (left < kInboundHighWater / 2 && pausedCount_.load(std::memory_order_acquire) > 0 &&
      !resumeRequested_.exchange(true, std::memory_order_acq_rel)) {
    submit(Command(CommandType::ResumeReads));
  }
}

// ---- I/O thread ----

bool Reactor::inboundCongested() const {
  return outbox_.undelivered() + pending_.payloadBytes > kInboundHighWater;
}

void Reactor::pauseReads(Connection& conn) {
  lws_rx_flow_control(conn.wsi(), 0);
  paused_.push_back(&conn);
  pausedCount_.store(paused_.size(), std::memory_order_release);  // Cross-thread: eventsConsumed reads it
}

void Reactor::forgetPaused(Connection& conn) {
  auto it = std::find(paused_.begin(), paused_.end(), &conn);
  if (it == paused_.end()) return;
  paused_.erase(it);
  pausedCount_.store(paused_.size(), std::memory_order_release);
}

void Reactor::resumePausedReads() {
  resumeRequested_.store(false, std::memory_order_release);  // Cross-thread: JS may ask again
  for (Connection* c : paused_) c->resumeReads();
  paused_.clear();
  pausedCount_.store(0, std::memory_order_release);
}

}  // namespace lwsnode
