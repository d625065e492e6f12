// Events to JS: the I/O thread publishes each turn's batch into the outbox (event_outbox.h)
// and wakes JS once per burst; JS takes every queued batch when it runs.
#include "reactor.h"

namespace lwsnode {

// ---- JS thread ----

std::vector<EventBatch> Reactor::takeEvents() { return outbox_.take(); }

bool Reactor::deliveryDone() { return outbox_.deliveryDone(); }

// ---- I/O thread ----

void Reactor::publishEvents() {
  if (pending_.empty()) return;
  const bool kick = outbox_.publish(std::move(pending_));
  pending_ = EventBatch();
  ++publishedBatches_;
  // Cross-thread: one TSFN call per burst, and none while JS is still dispatching (kickPending_
  // stays set until deliveryDone()); JS takes every queued batch when it runs.
  if (kick) notify_();
}

}  // namespace lwsnode
