// Events to JS: the I/O thread publishes each turn's batch into the outbox (event_outbox.h)
// and wakes JS once per burst; JS takes every queued batch when it runs.
#include "reactor.h"

namespace lwsnode {

// ---- JS thread ----

void Reactor::takeEvents(std::vector<EventBatch>& out) { outbox_.take(out); }

bool Reactor::deliveryDone(std::vector<EventBatch>& done) { return outbox_.deliveryDone(done); }

// ---- I/O thread ----

void Reactor::publishEvents() {
  if (pending_.empty()) return;
  const bool kick = outbox_.publish(pending_);  // refills pending_ with a recycled batch
  ++publishedBatches_;
  // Cross-thread: one wakeup per burst, and none while JS is still dispatching (kickPending_
  // stays set until deliveryDone()); JS takes every queued batch when it runs.
  if (kick) notify_();
}

}  // namespace lwsnode
