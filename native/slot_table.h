// Connection identities shared with JS, and the per-connection counter JS reads without a
// call into native code.
//
// A slot is a small integer naming one connection. It is reserved from ESTABLISHED until JS
// has processed that connection's Close event and released it, so a command JS issues for a
// slot can never reach a different connection. Each slot owns one double in a counter chunk
// that JS maps as a Float64Array: the I/O thread keeps there "bytes queued natively for this
// connection minus bytes written", and JS adds the bytes it has sent itself, which makes
// ws.bufferedAmount exact and synchronous.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

namespace lwsnode {

class Connection;

struct CounterChunk {
  static constexpr uint32_t kSize = 1024;
  std::atomic<double> values[kSize] = {};
};
static_assert(sizeof(std::atomic<double>) == sizeof(double) && std::atomic<double>::is_always_lock_free,
              "JS reads the counters as a Float64Array");

class SlotTable {
 public:
  // I/O thread. acquire() reserves a fresh slot (its counter zeroed); attach() names its owner.
  uint32_t acquire();
  void attach(uint32_t slot, Connection* conn) { entries_[slot] = conn; }
  Connection* get(uint32_t slot) const { return slot < entries_.size() ? entries_[slot] : nullptr; }
  void vacate(uint32_t slot);  // the connection is gone; the slot waits for release()
  void release(uint32_t slot);
  std::atomic<double>& counter(uint32_t slot) { return chunkPtrs_[slot / CounterChunk::kSize]->values[slot % CounterChunk::kSize]; }

  // JS thread: shared ownership of one chunk (null when it does not exist yet).
  std::shared_ptr<CounterChunk> chunk(uint32_t index);

 private:
  std::vector<Connection*> entries_;   // I/O thread only
  std::vector<bool> awaitingRelease_;  // I/O thread only
  std::deque<uint32_t> free_;          // I/O thread only; FIFO so a slot rests before reuse
  std::vector<CounterChunk*> chunkPtrs_;  // I/O thread only: fast path to the owned chunks
  std::mutex chunksMutex_;             // guards chunks_ (read by the JS thread)
  std::vector<std::shared_ptr<CounterChunk>> chunks_;
};

}  // namespace lwsnode
