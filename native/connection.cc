// A Connection's life apart from its byte streams: construction, keepalive (ping, pong, the
// idle policy) and its topic subscriptions. The streams: inbound_assembler.cc (messages in),
// outbound_queue.cc (frames out); the closing handshake: connection_close.cc.
#include "connection.h"

#include <libwebsockets.h>

#include <cstring>

#include "reactor.h"

namespace lwsnode {

Connection::Connection(Reactor& reactor, Server* server, const ConnectionLimits& limits, ServerStats& stats, lws* wsi,
                       uint32_t slot)
    : reactor_(reactor),
      server_(server),
      limits_(limits),
      stats_(stats),
      wsi_(wsi),
      slot_(slot),
      counter_(reactor.slots().counter(slot)),
      lastActivityMs_(static_cast<uint32_t>(reactor.nowMs())),
      masked_(server == nullptr),
      pingOutstanding_(false),
      rxBinary_(false),
      rxActive_(false),
      readsPaused_(false),
      readsHeld_(false),
      notifyDrain_(false),
      dirty_(false),
      closeRequested_(false),
      sentClose_(false),
      holding_(false),
      lettingGo_(false),
      peerClosed_(false) {}

Connection::~Connection() {
  if (closing_) closing_->deadline.cancel();  // runs in CLOSED, while the context is alive
  reactor_.forgetPaused(*this);
  if (dirty_) reactor_.forgetDirty(*this);
}

Connection::Closing& Connection::closing() {
  if (!closing_) {
    closing_ = std::make_unique<Closing>();
    closing_->deadline.owner = this;
  }
  return *closing_;
}

void Connection::onPong(const void* in, size_t len) {
  lastActivityMs_ = static_cast<uint32_t>(reactor_.nowMs());
  pingOutstanding_ = false;
  reactor_.events().pushCopy(EventType::Pong, slot_, 0, in, len);
}

void Connection::onPing(const void* in, size_t len) {
  lastActivityMs_ = static_cast<uint32_t>(reactor_.nowMs());
  reactor_.events().pushCopy(EventType::Ping, slot_, 0, in, len);
  // RFC 6455 5.5.2: every ping is answered, in order with our frames (lws patch 0500 leaves
  // pongs to us; it kept one pending and dropped the pings behind it).
  if (len <= 125) {
    if (FrameRef pong = Frame::create(Opcode::Pong, len)) {
      if (len) std::memcpy(pong->payload(), in, len);
      enqueue(std::move(pong), 0, false);
    }
  }
}

bool Connection::checkIdle(uint64_t nowMs, uint64_t idleMs, bool sendPings, const FrameRef& ping) {
  const uint64_t silent = static_cast<uint32_t>(static_cast<uint32_t>(nowMs) - lastActivityMs_);
  if (sendPings && !pingOutstanding_) {
    // Ping once silence passes half the timeout (by the next tick at the latest), and never
    // drop a socket that has not had an unanswered ping.
    if (silent + Reactor::kIdleTickMs > idleMs / 2) {
      pingOutstanding_ = true;
      enqueue(ping, 0, false);
    }
    return false;
  }
  if (silent < idleMs) return false;
  terminate();
  return true;
}

void Connection::joined(Topic& topic, uint32_t index) {
  if (!subscriptions_) subscriptions_ = std::make_unique<std::vector<Subscription>>();
  subscriptions_->push_back({&topic, index});
}

bool Connection::isSubscribed(const Topic& topic) const {
  if (!subscriptions_) return false;
  for (const Subscription& s : *subscriptions_)
    if (s.topic == &topic) return true;
  return false;
}

int64_t Connection::left(const Topic& topic) {
  if (!subscriptions_) return -1;
  std::vector<Subscription>& subs = *subscriptions_;
  for (size_t i = 0; i < subs.size(); ++i) {
    if (subs[i].topic != &topic) continue;
    const uint32_t index = subs[i].index;
    subs[i] = subs.back();
    subs.pop_back();
    return index;
  }
  return -1;
}

void Connection::moved(const Topic& topic, uint32_t index) {
  if (!subscriptions_) return;
  for (Subscription& s : *subscriptions_)
    if (s.topic == &topic) s.index = index;
}

std::vector<Topic*> Connection::topics() const {
  std::vector<Topic*> out;
  if (!subscriptions_) return out;
  out.reserve(subscriptions_->size());
  for (const Subscription& s : *subscriptions_) out.push_back(s.topic);
  return out;
}

}  // namespace lwsnode
