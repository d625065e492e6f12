// Per-server counters, written by the I/O thread and read by JS as a Float64Array over this
// very memory (so `server.stats()` costs no call into native code and no lock).
#pragma once

#include <atomic>
#include <cstddef>

namespace lwsnode {

struct ServerStats {
  // Order shared with lib/server-stats.ts (STAT_* indices).
  enum Field : size_t {
    Connections,       // open now
    ConnectionsTotal,  // accepted since listen
    Rejected,          // upgrades refused (path, limits, closing)
    MessagesIn,
    BytesIn,
    MessagesOut,       // frames written, one per receiver of a publish
    BytesOut,          // payload bytes written
    QueuedBytes,       // payload bytes queued natively, not yet written
    Dropped,           // publish deliveries refused because a socket was over maxBackpressure
    NativeCounted,     // bytes a fan-out counted here (not by JS) may add to one socket, summed
                       // over fan-outs: bounds such growth for JS's publish (topic-account.ts)
    Count
  };

  // Single writer (the I/O thread): a relaxed load + store is exact and cheaper than an RMW.
  void add(Field f, double n) { v[f].store(v[f].load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }

  std::atomic<double> v[Count] = {};
};
static_assert(sizeof(std::atomic<double>) == sizeof(double), "JS reads the stats as a Float64Array");

}  // namespace lwsnode
