#include "publisher.h"

#include <unordered_map>

#include "js_frame.h"
#include "reactor.h"

namespace lwsnode {

bool PublishGate::submit(Command&& cmd, bool deferWake) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!reactor_) return false;
  cmd.slot = serverId_;
  // Cross-thread: the command queue's own mutex hands the command to the I/O thread.
  return reactor_->submit(std::move(cmd), deferWake);
}

void PublishGate::flushWake() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (reactor_) reactor_->flushWake();
}

void PublishGate::close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    reactor_ = nullptr;
  }
  PublisherRegistry::remove(id_);
}

namespace {

// See PublisherRegistry: weak references only, guarded by one mutex.
struct Registry {
  std::mutex mutex;
  uint64_t nextId = 1;
  std::unordered_map<uint64_t, std::weak_ptr<PublishGate>> gates;
};

Registry& registry() {
  static Registry r;  // lives as long as the process (the addon may be loaded by many envs)
  return r;
}

}  // namespace

uint64_t PublisherRegistry::add(const std::shared_ptr<PublishGate>& gate) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  // Forget entries whose gate is gone (an owner that never called close(), e.g. at teardown).
  for (auto it = r.gates.begin(); it != r.gates.end();) it = it->second.expired() ? r.gates.erase(it) : std::next(it);
  gate->id_ = r.nextId++;
  r.gates.emplace(gate->id_, gate);
  return gate->id_;
}

std::shared_ptr<PublishGate> PublisherRegistry::find(uint64_t id) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.gates.find(id);
  return it == r.gates.end() ? nullptr : it->second.lock();
}

void PublisherRegistry::remove(uint64_t id) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.gates.erase(id);
}

Napi::Function JsPublisher::define(Napi::Env env) {
  return DefineClass(env, "Publisher",
                     {
                         InstanceMethod<&JsPublisher::publish>("publish"),
                         InstanceMethod<&JsPublisher::broadcast>("broadcast"),
                         InstanceMethod<&JsPublisher::flush>("flush"),
                         InstanceMethod<&JsPublisher::close>("close"),
                         InstanceMethod<&JsPublisher::isOpen>("isOpen"),
                     });
}

JsPublisher::JsPublisher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JsPublisher>(info) {
  // Ids are below 2^53 (a counter), so a JS number carries them exactly.
  if (!info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "Publisher(id): id must be a number");
  gate_ = PublisherRegistry::find(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
}

JsPublisher::~JsPublisher() {
  // Commands this environment deferred (its turn never ended, e.g. the worker exited) still go.
  if (gate_) gate_->flushWake();
}

Napi::Value JsPublisher::publish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!gate_) return Napi::Boolean::New(env, false);
  Command cmd(CommandType::Publish);
  cmd.text = info[0].As<Napi::String>().Utf8Value();
  cmd.frame = frameFrom(env, info[1], info[2].ToBoolean() ? Opcode::Binary : Opcode::Text);
  cmd.frame->setCompressible(info[3].ToBoolean());
  // No JS thread of the server counted it in bufferedAmount: the fan-out counts it.
  cmd.flags = kCountedNatively;
  const bool ok = gate_->submit(std::move(cmd), true);
  if (!ok) gate_.reset();  // closed for good
  return Napi::Boolean::New(env, ok);
}

Napi::Value JsPublisher::broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!gate_) return Napi::Boolean::New(env, false);
  Command cmd(CommandType::Broadcast);
  cmd.frame = frameFrom(env, info[0], info[1].ToBoolean() ? Opcode::Binary : Opcode::Text);
  cmd.frame->setCompressible(info[2].ToBoolean());
  const bool ok = gate_->submit(std::move(cmd), true);
  if (!ok) gate_.reset();
  return Napi::Boolean::New(env, ok);
}

Napi::Value JsPublisher::flush(const Napi::CallbackInfo& info) {
  if (gate_) gate_->flushWake();
  return info.Env().Undefined();
}

Napi::Value JsPublisher::close(const Napi::CallbackInfo& info) {
  if (gate_) gate_->flushWake();
  gate_.reset();
  return info.Env().Undefined();
}

Napi::Value JsPublisher::isOpen(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), gate_ != nullptr); }

}  // namespace lwsnode
