// Stress-fuzzes the I/O thread -> JS hand-over (native/event_outbox.h) with two real threads:
// the fuzzer's input is a sequence of batch payload sizes that this thread publishes while a
// second thread, standing in for JS, takes batches as soon as they are visible and reports
// each consumed. Checked after every consumed(): the undelivered count never wraps below zero
// (it is never more than what was published and not yet consumed), every batch is taken
// exactly once and in order, batches JS hands back (deliveryDone) return to the I/O thread
// empty, and at the end the count is exactly 0.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <vector>

#include "../../native/event_outbox.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lwsnode::EventOutbox outbox;
  std::atomic<size_t> published{0};  // bytes published so far
  const size_t batches = size / 2;
  std::thread js([&] {
    size_t taken = 0, consumedBytes = 0;
    uint32_t expectSlot = 0;
    std::vector<lwsnode::EventBatch> delivery;  // reused, as the binding reuses it
    while (taken < batches) {
      outbox.take(delivery);
      for (lwsnode::EventBatch& b : delivery) {
        if (b.records.empty() || b.records[0].slot != expectSlot++) std::abort();  // order, once
        const size_t left = outbox.consumed(b.payloadBytes);
        consumedBytes += b.payloadBytes;
        // Never more than published minus consumed (a wrap reads as a huge number).
        if (left > published.load(std::memory_order_acquire) - consumedBytes) std::abort();
        ++taken;
      }
      outbox.deliveryDone(delivery);  // as JS does after each delivery; empties `delivery`
      if (!delivery.empty()) std::abort();
    }
  });
  lwsnode::EventBatch pending;  // refilled by publish() with a recycled batch when there is one
  for (size_t i = 0; i < batches; ++i) {
    const size_t len = ((static_cast<size_t>(data[2 * i]) << 8 | data[2 * i + 1]) % 4096) + 1;
    static const uint8_t kBytes[4096] = {};
    pending.pushCopy(lwsnode::EventType::Message, static_cast<uint32_t>(i), 0, kBytes, len);
    published.fetch_add(len, std::memory_order_acq_rel);  // before the batch is visible, as its bytes
    outbox.publish(pending);
    if (!pending.records.empty() || pending.payloadBytes != 0) std::abort();  // a recycled batch is empty
  }
  js.join();
  if (outbox.undelivered() != 0) std::abort();
  return 0;
}
