// Limits per client address, checked on the I/O thread before a handshake reaches JS: open
// connections per address (maxConnectionsPerIp) and handshakes per address per second
// (handshakeRateLimit). I/O thread only; one per server.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

namespace lwsnode {

class AddressLimits {
 public:
  AddressLimits(uint32_t maxConnections, uint32_t handshakesPerSecond)
      : maxConnections_(maxConnections), handshakesPerSecond_(handshakesPerSecond) {}

  bool enabled() const { return maxConnections_ != 0 || handshakesPerSecond_ != 0; }

  // A handshake from `address` arrived: counts it against the rate, and says whether it may go
  // on (false: answer 429).
  bool admit(const std::string& address, uint64_t nowMs) {
    if (!enabled()) return true;
    Entry& e = entries_[address];
    if (handshakesPerSecond_ != 0) {
      // A fixed one-second window: simple, and at most twice the rate across a window edge.
      if (nowMs - e.windowStartMs >= 1000) {
        e.windowStartMs = nowMs;
        e.handshakes = 0;
      }
      if (e.handshakes >= handshakesPerSecond_) return false;
      ++e.handshakes;
    }
    return mayConnect(address);
  }

  // Checked again when the upgrade completes (an upgrade hook may have taken its time).
  bool mayConnect(const std::string& address) const {
    if (maxConnections_ == 0) return true;
    auto it = entries_.find(address);
    return it == entries_.end() || it->second.connections < maxConnections_;
  }

  void connected(const std::string& address) {
    if (maxConnections_ != 0) ++entries_[address].connections;
  }

  void disconnected(const std::string& address) {
    auto it = entries_.find(address);
    if (it != entries_.end() && it->second.connections > 0) --it->second.connections;
  }

  // Once a second: forget addresses with no connection and no handshake in the last second,
  // so the table stays as small as the set of active clients.
  void sweep(uint64_t nowMs) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->second.connections == 0 && nowMs - it->second.windowStartMs >= 1000)
        it = entries_.erase(it);
      else
        ++it;
    }
  }

  size_t tracked() const { return entries_.size(); }

 private:
  struct Entry {
    uint32_t connections = 0;
    uint32_t handshakes = 0;
    uint64_t windowStartMs = 0;
  };
  const uint32_t maxConnections_;
  const uint32_t handshakesPerSecond_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace lwsnode
