// The JS face of a Reactor (the N-API class exported as Reactor): commands in, batched events
// out, each burst through one wakeup (js_wakeup.h). JS option objects are read in binding_options.cc;
// batches become JS values in binding_events.cc.
//
// Lifetime: JS calls shutdown(); the I/O thread destroys everything in order and reports
// Stopped; JS then calls join(), which joins the thread and closes the wakeup so the event loop
// may exit. If the environment goes away first (a worker terminated or
// ending), the cleanup hook does the same synchronously. process.exit() on the main thread
// runs no cleanup hooks: lib/reactor.ts calls join() for every live reactor from the
// process's `exit` event instead.
#pragma once

#include <napi.h>

#include <memory>
#include <unordered_map>

#include "binding_events.h"
#include "js_wakeup.h"
#include "publisher.h"
#include "reactor.h"

namespace lwsnode {

class JsReactor : public Napi::ObjectWrap<JsReactor> {
 public:
  static Napi::Function define(Napi::Env env);

  explicit JsReactor(const Napi::CallbackInfo& info);  // (dispatch: Function, logLevels: number)
  ~JsReactor() override;

 private:
  static void deliver(napi_env env, napi_value dispatch, void* self);
  static void onEnvTeardown(void* self);

  Napi::Value listen(const Napi::CallbackInfo& info);
  Napi::Value send(const Napi::CallbackInfo& info);
  Napi::Value sendBatch(const Napi::CallbackInfo& info);
  Napi::Value flushWake(const Napi::CallbackInfo& info);
  Napi::Value watchDrain(const Napi::CallbackInfo& info);
  Napi::Value ping(const Napi::CallbackInfo& info);
  Napi::Value subscribe(const Napi::CallbackInfo& info);
  Napi::Value unsubscribe(const Napi::CallbackInfo& info);
  Napi::Value publish(const Napi::CallbackInfo& info);
  Napi::Value broadcast(const Napi::CallbackInfo& info);
  Napi::Value close(const Napi::CallbackInfo& info);
  Napi::Value terminate(const Napi::CallbackInfo& info);
  Napi::Value release(const Napi::CallbackInfo& info);
  Napi::Value stopServer(const Napi::CallbackInfo& info);
  Napi::Value setTls(const Napi::CallbackInfo& info);
  Napi::Value connect(const Napi::CallbackInfo& info);
  Napi::Value abortConnect(const Napi::CallbackInfo& info);
  Napi::Value holdReads(const Napi::CallbackInfo& info);
  Napi::Value counters(const Napi::CallbackInfo& info);
  Napi::Value shutdown(const Napi::CallbackInfo& info);
  Napi::Value join(const Napi::CallbackInfo& info);
  Napi::Value ref(const Napi::CallbackInfo& info);
  Napi::Value unref(const Napi::CallbackInfo& info);
  Napi::Value holdAcks(const Napi::CallbackInfo& info);
  Napi::Value setLogLevels(const Napi::CallbackInfo& info);
  Napi::Value upgradeAccept(const Napi::CallbackInfo& info);
  Napi::Value upgradeReject(const Napi::CallbackInfo& info);
  Napi::Value adopt(const Napi::CallbackInfo& info);
  Napi::Value socketPair(const Napi::CallbackInfo& info);
  Napi::Value publisherHandle(const Napi::CallbackInfo& info);
  Napi::Value closePublishers(const Napi::CallbackInfo& info);

  void submit(Command&& cmd);
  void submitCorked(Command&& cmd);  // the wakeup waits for flushWake()
  Napi::Value slotCommand(const Napi::CallbackInfo& info, CommandType type, bool withText);
  void stopNow();  // join the I/O thread and close the wakeup; idempotent

  JsWakeup wakeup_;  // the I/O thread's call for a delivery (open until stopNow)
  bool dispatching_ = false;  // sends during a dispatch share one wakeup, issued at its end
  JsInbox inbox_;  // JS thread only: what deliver() packs batches into
  // JS's send stage (lib/send-stage.ts): dispatch returns how many of its bytes to take as one
  // SendBatch when it returns, instead of calling sendBatch(). JS thread only.
  Napi::Reference<Napi::ArrayBuffer> stage_;
  const char* stageData_ = nullptr;
  size_t stageBytes_ = 0;
  std::vector<EventBatch> delivering_;  // JS thread only: deliver()'s batch list, kept for reuse
  // Doors for other threads' publishers, by server id (publisher.h); closed before reactor_ goes.
  std::unordered_map<uint32_t, std::shared_ptr<PublishGate>> gates_;
  // Declared last so it is destroyed first: its destructor joins the I/O thread, which may
  // still signal wakeup_ until then.
  std::unique_ptr<Reactor> reactor_;
};

}  // namespace lwsnode
