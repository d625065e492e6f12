// The hand-over of event batches from the I/O thread to JS, and the count of inbound payload
// bytes JS has not finished with (inbound flow control reads it on the I/O thread).
//
// publish() counts a batch's bytes *before* the batch becomes visible: JS may take it and
// report it consumed (subtracting its bytes) before the I/O thread runs another instruction,
// and the unsigned count must never go below zero (it would wrap, read as "JS is 16 EiB behind",
// and paused connections would never be resumed).
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <utility>
#include <vector>

#include "event_batch.h"

namespace lwsnode {

class EventOutbox {
 public:
  // I/O thread: hands `pending` over and refills it with a recycled (empty) batch, if any.
  // Returns true if JS must be woken (no wakeup is pending yet).
  bool publish(EventBatch& pending) {
    undelivered_.fetch_add(pending.payloadBytes, std::memory_order_acq_rel);  // first: see above
    std::lock_guard<std::mutex> lock(mutex_);
    batches_.push_back(std::move(pending));
    if (!spare_.empty()) {
      pending = std::move(spare_.back());
      spare_.pop_back();
    } else {
      pending = EventBatch();  // (a moved-from batch is not reusable as such)
    }
    const bool kick = !kickPending_;
    kickPending_ = true;
    return kick;
  }

  // JS thread: every batch published so far, swapped into `out` (empty; its storage becomes
  // the next queue's). The wakeup stays pending while JS dispatches them, so the I/O thread
  // does not wake JS again meanwhile (see deliveryDone()).
  void take(std::vector<EventBatch>& out) {
    std::lock_guard<std::mutex> lock(mutex_);
    out.swap(batches_);
  }

  // JS thread, after dispatching what take() returned (`done`, emptied here: its batches are
  // kept for the I/O thread to refill, up to kSpareBatches). True: nothing waits, and the next
  // publish wakes JS again. False: batches arrived meanwhile and no wakeup was sent for them,
  // so the caller schedules the next delivery itself.
  bool deliveryDone(std::vector<EventBatch>& done) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (EventBatch& b : done) {
      if (spare_.size() >= kSpareBatches || !b.worthKeeping()) continue;
      b.reset();
      spare_.push_back(std::move(b));
    }
    done.clear();
    if (!batches_.empty()) return false;
    kickPending_ = false;
    return true;
  }

  // JS thread: JS is done with `bytes` of a taken batch's payload. Returns what is left.
  size_t consumed(size_t bytes) { return undelivered_.fetch_sub(bytes, std::memory_order_acq_rel) - bytes; }

  // Any thread.
  size_t undelivered() const { return undelivered_.load(std::memory_order_acquire); }

 private:
  static constexpr size_t kSpareBatches = 2;  // one in flight each way is the steady state
  std::mutex mutex_;  // guards batches_, spare_ and kickPending_
  std::vector<EventBatch> batches_;
  std::vector<EventBatch> spare_;  // delivered batches, emptied, for publish() to refill
  bool kickPending_ = false;
  std::atomic<size_t> undelivered_{0};
};

}  // namespace lwsnode
