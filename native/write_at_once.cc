// Write-at-once: connections that queued frames during a batch of commands (or an idle tick)
// are flushed once at its end, so a burst of sends and publishes costs one write each.
#include "reactor.h"

#include <algorithm>

#include "connection.h"

namespace lwsnode {

void Reactor::markDirty(Connection& conn) {
  conn.setDirty(true);
  dirty_.push_back(&conn);
}

void Reactor::forgetDirty(Connection& conn) {
  auto it = std::find(dirty_.begin(), dirty_.end(), &conn);
  if (it != dirty_.end()) dirty_.erase(it);
  it = std::find(flushing_.begin(), flushing_.end(), &conn);
  if (it != flushing_.end()) *it = nullptr;  // gone during this flush
}

void Reactor::flushDirty() {
  if (dirty_.empty()) return;
  flushing_.swap(dirty_);  // a flush may mark connections again (none today); they wait
  for (size_t i = 0; i < flushing_.size(); ++i)
    if (Connection* c = flushing_[i]) c->flush();
  flushing_.clear();
}

}  // namespace lwsnode
