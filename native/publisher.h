// Producer threads publish straight to a server's I/O thread.
//
//   main JS thread                 worker thread                   I/O thread
//   --------------                 -------------                   ----------
//   server.publisherHandle()
//     -> PublishGate (owned by the JsReactor), id in PublisherRegistry
//     -> { id } posted to a Worker
//                                  createPublisher({ id })
//                                    -> JsPublisher holds the gate
//                                  publish(): frame once, push --> CommandQueue --> fan-out
//
// No hop through the main thread: a worker pushes into the same mutex-protected command
// queue the main thread uses, so a busy main thread does not delay it.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <mutex>

#include "command.h"

namespace lwsnode {

class Reactor;

// One server's door for other threads. The JsReactor that owns the reactor owns the gate and
// closes it (under the gate's mutex) when the server closes or before the reactor goes away,
// so a producer never touches a destroyed reactor: after close(), submit() returns false.
class PublishGate {
 public:
  PublishGate(Reactor* reactor, uint32_t serverId) : reactor_(reactor), serverId_(serverId) {}
  PublishGate(const PublishGate&) = delete;
  PublishGate& operator=(const PublishGate&) = delete;

  // Any thread. Lock order: gate, then the command queue (the queue never takes a gate lock).
  bool submit(Command&& cmd, bool deferWake);
  void flushWake();
  // Owner's JS thread: no command passes after this returns.
  void close();
  uint32_t serverId() const { return serverId_; }
  uint64_t id() const { return id_; }

 private:
  friend class PublisherRegistry;
  std::mutex mutex_;          // guards reactor_
  Reactor* reactor_;          // null once closed
  const uint32_t serverId_;
  uint64_t id_ = 0;           // set once by PublisherRegistry::add, before the gate is shared
};

// Process-wide lookup table from a handle's id to its gate, so that a plain object posted to a
// Worker can find the gate again in another JS environment (Node-API values cannot cross).
// This is the one exception to "no static state", and deliberately holds nothing but weak
// references: it owns no gate, no loop and no context, so a server or reactor going away is
// never kept alive or delayed by it; a stale id simply resolves to nothing.
class PublisherRegistry {
 public:
  static uint64_t add(const std::shared_ptr<PublishGate>& gate);
  static std::shared_ptr<PublishGate> find(uint64_t id);
  static void remove(uint64_t id);
};

// The worker-side object: createPublisher(handle) in lib/publisher.ts wraps one.
class JsPublisher : public Napi::ObjectWrap<JsPublisher> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit JsPublisher(const Napi::CallbackInfo& info);  // (id: number)
  ~JsPublisher() override;

 private:
  Napi::Value publish(const Napi::CallbackInfo& info);    // (topic, data, binary, compress) -> bool
  Napi::Value broadcast(const Napi::CallbackInfo& info);  // (data, binary, compress) -> bool
  Napi::Value flush(const Napi::CallbackInfo& info);      // wake the I/O thread for this turn's commands
  Napi::Value close(const Napi::CallbackInfo& info);      // drop the gate; later publishes return false
  Napi::Value isOpen(const Napi::CallbackInfo& info);

  std::shared_ptr<PublishGate> gate_;
};

}  // namespace lwsnode
