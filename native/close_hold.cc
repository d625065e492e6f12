// Held closes: a connection's close waits until JS has dispatched the events queued before it
// (Connection::onCloseHold), so a handler still sees its socket open. JS counts the batches it
// dispatched and acknowledges; the I/O thread lets the held closes go.
#include "reactor.h"

#include "connection.h"

namespace lwsnode {

// ---- JS thread ----

void Reactor::batchesDispatched(size_t count) {
  if (!count) return;
  jsDispatched_ += static_cast<uint32_t>(count);
  if (!ackHolds_) acknowledge();
}

void Reactor::holdAcks(bool on) {
  if (on) {
    ++ackHolds_;
  } else if (ackHolds_ && --ackHolds_ == 0) {
    acknowledge();
    flushWake();  // outside a dispatch: nobody else wakes the I/O thread
  }
}

void Reactor::acknowledge() {
  // Cross-thread (seq_cst with heldCloses_, see reactor.h): after the handlers' sends were queued.
  dispatchedBatches_.store(jsDispatched_);
  if (heldCloses_.load() == 0) return;
  Command ack(CommandType::EventsSeen);
  ack.slot = jsDispatched_;
  submit(std::move(ack), true);  // behind the handlers' sends; woken by the dispatch's flushWake
}

// ---- I/O thread ----

uint32_t Reactor::holdClose(Connection& conn) {
  // The events so far travel in the batch being filled, or in the last one published.
  const uint32_t batch = pending_.empty() ? publishedBatches_ : publishedBatches_ + 1;
  heldSlots_.push_back(conn.slot());
  // Cross-thread (seq_cst, Dekker-style with acknowledge()): either JS sees the hold or we see
  // that it dispatched the batch already.
  heldCloses_.store(static_cast<uint32_t>(heldSlots_.size()));
  const uint32_t dispatched = dispatchedBatches_.load();
  if (static_cast<int32_t>(dispatched - batch) >= 0) {
    // JS ran those handlers already and may not acknowledge again: queue the acknowledgement
    // ourselves, behind the sends those handlers queued (pushed from the I/O thread).
    Command ack(CommandType::EventsSeen);
    ack.slot = dispatched;
    commands_.push(std::move(ack), false);
  }
  return batch;
}

void Reactor::releaseHeldCloses(uint32_t dispatched) {
  size_t kept = 0;
  for (uint32_t slot : heldSlots_) {
    Connection* c = slots_.get(slot);
    if (c && c->holdingClose() && !c->releaseHeldClose(dispatched)) heldSlots_[kept++] = slot;
  }
  heldSlots_.resize(kept);
  heldCloses_.store(static_cast<uint32_t>(kept));  // Cross-thread: acknowledge() reads it
}

}  // namespace lwsnode
