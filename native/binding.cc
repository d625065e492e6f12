#include "binding.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "adopt.h"
#include "binding_options.h"
#include "js_frame.h"

namespace lwsnode {

namespace {

uint32_t u32(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Uint32Value(); }

// Shares a native block with JS as a Float64Array; the ArrayBuffer co-owns the block.
template <typename Block>
Napi::Value shareAsFloat64(Napi::Env env, std::shared_ptr<Block> block, void* data, size_t bytes) {
  auto keep = std::make_unique<std::shared_ptr<Block>>(std::move(block));
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
      env, data, bytes, [](Napi::Env, void*, std::shared_ptr<Block>* hint) { std::unique_ptr<std::shared_ptr<Block>> owned(hint); },
      keep.get());
  (void)keep.release();  // now owned by the ArrayBuffer's finalizer
  return Napi::Float64Array::New(env, bytes / sizeof(double), ab, 0);
}

}  // namespace

Napi::Function JsReactor::define(Napi::Env env) {
  return DefineClass(env, "Reactor",
                     {
                         InstanceMethod<&JsReactor::listen>("listen"),
                         InstanceMethod<&JsReactor::send>("send"),
                         InstanceMethod<&JsReactor::sendBatch>("sendBatch"),
                         InstanceMethod<&JsReactor::flushWake>("flushWake"),
                         InstanceMethod<&JsReactor::watchDrain>("watchDrain"),
                         InstanceMethod<&JsReactor::ping>("ping"),
                         InstanceMethod<&JsReactor::subscribe>("subscribe"),
                         InstanceMethod<&JsReactor::unsubscribe>("unsubscribe"),
                         InstanceMethod<&JsReactor::publish>("publish"),
                         InstanceMethod<&JsReactor::broadcast>("broadcast"),
                         InstanceMethod<&JsReactor::close>("close"),
                         InstanceMethod<&JsReactor::terminate>("terminate"),
                         InstanceMethod<&JsReactor::release>("release"),
                         InstanceMethod<&JsReactor::stopServer>("stopServer"),
                         InstanceMethod<&JsReactor::setTls>("setTls"),
                         InstanceMethod<&JsReactor::connect>("connect"),
                         InstanceMethod<&JsReactor::abortConnect>("abortConnect"),
                         InstanceMethod<&JsReactor::holdReads>("holdReads"),
                         InstanceMethod<&JsReactor::counters>("counters"),
                         InstanceMethod<&JsReactor::shutdown>("shutdown"),
                         InstanceMethod<&JsReactor::join>("join"),
                         InstanceMethod<&JsReactor::ref>("ref"),
                         InstanceMethod<&JsReactor::unref>("unref"),
                         InstanceMethod<&JsReactor::holdAcks>("holdAcks"),
                         InstanceMethod<&JsReactor::setLogLevels>("setLogLevels"),
                         InstanceMethod<&JsReactor::upgradeAccept>("upgradeAccept"),
                         InstanceMethod<&JsReactor::upgradeReject>("upgradeReject"),
                         InstanceMethod<&JsReactor::adopt>("adopt"),
                         InstanceMethod<&JsReactor::socketPair>("socketPair"),
                         InstanceMethod<&JsReactor::publisherHandle>("publisherHandle"),
                         InstanceMethod<&JsReactor::closePublishers>("closePublishers"),
                     });
}

JsReactor::JsReactor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JsReactor>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "Reactor(dispatch): dispatch must be a function");
  if (!wakeup_.open(env, info[0], &JsReactor::deliver, &JsReactor::onEnvTeardown, this))
    throw Napi::Error::New(env, "Reactor: could not open its wakeup on the event loop");
  // Cross-thread: the I/O thread only signals the wakeup; all JS work happens in deliver().
  const uint32_t logLevels = info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
  if (info[2].IsArrayBuffer()) {
    // JS never detaches or resizes its stage, so the pointer stays valid while we hold it.
    Napi::ArrayBuffer stage = info[2].As<Napi::ArrayBuffer>();
    stage_ = Napi::Reference<Napi::ArrayBuffer>::New(stage, 1);
    stageData_ = static_cast<const char*>(stage.Data());
    stageBytes_ = stage.ByteLength();
  }
  reactor_ = std::make_unique<Reactor>([this] { wakeup_.signal(); }, logLevels);
  reactor_->start();
}

JsReactor::~JsReactor() { stopNow(); }

void JsReactor::onEnvTeardown(void* self) { static_cast<JsReactor*>(self)->stopNow(); }

void JsReactor::stopNow() {
  for (auto& [id, gate] : gates_) gate->close();  // producers stop before the reactor may go
  gates_.clear();
  if (reactor_) reactor_->stopAndJoin();
  wakeup_.close();  // nothing signals it any more
}

// Raw Node-API calls in deliver() and in binding_events.cc, each checked: while a worker is
// being terminated they fail, and node-addon-api would then build a Napi::Error, which itself
// fails and aborts the process. A failed call just ends the delivery; the environment is going
// away.
//
// Every batch queued since the last delivery goes to JS in one call (binding_events.cc packs
// them). In the steady state a delivery costs three Node-API calls (napi_get_undefined,
// napi_call_function, napi_get_value_uint32) whatever the number of events: the handlers'
// staged sends come back as dispatch's return value (bytes of the stage to take), not as a
// sendBatch() call.
void JsReactor::deliver(napi_env env, napi_value dispatch, void* arg) {
  auto* self = static_cast<JsReactor*>(arg);
  if (!self->reactor_) return;
  // Cross-thread: takes the batches the I/O thread published; it will not wake us again for
  // what it publishes while we dispatch (see Reactor::deliveryDone()).
  // The vector (and, through deliveryDone, its batches) is reused from delivery to delivery.
  std::vector<EventBatch> batches = std::move(self->delivering_);
  self->reactor_->takeEvents(batches);
  napi_value undefined = nullptr;
  bool ok = !batches.empty() && napi_get_undefined(env, &undefined) == napi_ok;
  size_t bytes = 0;
  for (const EventBatch& b : batches) bytes += b.payloadBytes;
  napi_value argv[2] = {undefined, undefined};  // a new inbox, the large payloads
  ok = ok && self->inbox_.pack(env, batches, argv);
  self->dispatching_ = true;
  // JS dispatch catches handler errors itself: a failed call means the environment is ending
  // (JsWakeup reports an exception left pending).
  napi_value staged = nullptr;
  ok = ok && napi_call_function(env, undefined, dispatch, 2, argv, &staged) == napi_ok;
  self->dispatching_ = false;
  uint32_t stagedBytes = 0;
  if (ok && self->stageData_ != nullptr && napi_get_value_uint32(env, staged, &stagedBytes) == napi_ok && stagedBytes > 0) {
    // No JS has run since dispatch returned: the stage still holds exactly these sends.
    Command cmd(CommandType::SendBatch);
    cmd.text.assign(self->stageData_, std::min<size_t>(stagedBytes, self->stageBytes_));
    self->submitCorked(std::move(cmd));
  }
  self->inbox_.trim();
  if (!self->reactor_) return;
  if (ok) self->reactor_->eventsConsumed(bytes);
  // Closes held for these events may go once the sends their handlers made are applied.
  if (ok) self->reactor_->batchesDispatched(batches.size());
  self->reactor_->flushWake();
  // Cross-thread: batches published while we dispatched did not wake us; schedule their
  // delivery ourselves, as the next macrotask, so timers and I/O still get their turn.
  const bool idle = self->reactor_->deliveryDone(batches);  // empties `batches`
  self->delivering_ = std::move(batches);
  if (!idle) self->wakeup_.signal();  // a no-op once join() closed it
}

// (slot [, text]): the commands that name a slot (or server id) and maybe a topic.
Napi::Value JsReactor::slotCommand(const Napi::CallbackInfo& info, CommandType type, bool withText) {
  Command cmd(type);
  cmd.slot = u32(info, 0);
  if (withText) cmd.text = info[1].As<Napi::String>().Utf8Value();
  submit(std::move(cmd));
  return info.Env().Undefined();
}

void JsReactor::submit(Command&& cmd) {
  if (reactor_) reactor_->submit(std::move(cmd), dispatching_);
}

// Sends and publishes never wake the I/O thread themselves: JS calls flushWake() once at the
// end of its turn (a microtask queued by the first send of the turn, see lib/reactor.ts cork()),
// so every command of the turn crosses with one wakeup. Other commands wake as before and
// carry whatever is queued ahead of them, in order.
void JsReactor::submitCorked(Command&& cmd) {
  if (reactor_) reactor_->submit(std::move(cmd), true);
}

Napi::Value JsReactor::flushWake(const Napi::CallbackInfo& info) {
  if (reactor_) reactor_->flushWake();
  return info.Env().Undefined();
}

// listen(options) -> Float64Array over the server's live stats
Napi::Value JsReactor::listen(const Napi::CallbackInfo& info) {
  std::unique_ptr<ServerOptions> opts = serverOptionsFrom(info[0].As<Napi::Object>());
  auto stats = std::make_shared<ServerStats>();
  opts->stats = stats;
  Command cmd(CommandType::Listen);
  cmd.server = std::move(opts);
  submit(std::move(cmd));
  void* data = static_cast<void*>(stats->v);
  return shareAsFloat64(info.Env(), std::move(stats), data, sizeof(ServerStats::v));
}

// send(slot, data: string | ArrayBufferView, binary: boolean, flags) -> payload bytes queued
// (JS adds them to bufferedAmount; for a string this spares JS a second UTF-8 length scan).
Napi::Value JsReactor::send(const Napi::CallbackInfo& info) {
  Command cmd(CommandType::Send);
  cmd.frame = frameFrom(info.Env(), info[1], info[2].ToBoolean() ? Opcode::Binary : Opcode::Text, &reactor_->largePool());
  const double bytes = static_cast<double>(cmd.frame->payloadLength());
  cmd.slot = u32(info, 0);
  cmd.flags = u32(info, 3);
  cmd.frame->setCompressible((cmd.flags & kCompress) != 0);
  submitCorked(std::move(cmd));
  return Napi::Number::New(info.Env(), bytes);
}

// sendBatch(stage: ArrayBuffer, used): the small sends JS staged this turn (send_batch.h), in
// one command; copied, so JS reuses its stage at once.
Napi::Value JsReactor::sendBatch(const Napi::CallbackInfo& info) {
  void* data = nullptr;
  size_t capacity = 0;
  napi_get_arraybuffer_info(info.Env(), info[0], &data, &capacity);
  const size_t used = std::min<size_t>(u32(info, 1), capacity);
  Command cmd(CommandType::SendBatch);
  cmd.text.assign(static_cast<const char*>(data), used);
  submitCorked(std::move(cmd));
  return info.Env().Undefined();
}

// ping(slot, data): a ping frame queued in order with the socket's messages -> payload bytes.
Napi::Value JsReactor::ping(const Napi::CallbackInfo& info) {
  Command cmd(CommandType::Send);
  cmd.frame = frameFrom(info.Env(), info[1], Opcode::Ping);
  const double bytes = static_cast<double>(cmd.frame->payloadLength());
  cmd.slot = u32(info, 0);
  submitCorked(std::move(cmd));
  return Napi::Number::New(info.Env(), bytes);
}

Napi::Value JsReactor::subscribe(const Napi::CallbackInfo& info) { return slotCommand(info, CommandType::Subscribe, true); }

Napi::Value JsReactor::unsubscribe(const Napi::CallbackInfo& info) { return slotCommand(info, CommandType::Unsubscribe, true); }

// publish(serverId, topic, data, binary, senderSlot | -1, compress) -> payload bytes (JS adds
// them to every receiver's bufferedAmount)
Napi::Value JsReactor::publish(const Napi::CallbackInfo& info) {
  Command cmd(CommandType::Publish);
  cmd.slot = u32(info, 0);
  cmd.text = info[1].As<Napi::String>().Utf8Value();
  cmd.frame = frameFrom(info.Env(), info[2], info[3].ToBoolean() ? Opcode::Binary : Opcode::Text, &reactor_->largePool());
  cmd.frame->setCompressible(info[5].ToBoolean());
  const int32_t sender = info[4].As<Napi::Number>().Int32Value();
  if (sender >= 0) {
    cmd.flags = kExcludeSender;
    cmd.code = sender;
  }
  const double bytes = static_cast<double>(cmd.frame->payloadLength());
  submitCorked(std::move(cmd));
  return Napi::Number::New(info.Env(), bytes);
}

// broadcast(serverId, data, binary, compress) -> payload bytes (counted natively, at fan-out)
Napi::Value JsReactor::broadcast(const Napi::CallbackInfo& info) {
  Command cmd(CommandType::Broadcast);
  cmd.slot = u32(info, 0);
  cmd.frame = frameFrom(info.Env(), info[1], info[2].ToBoolean() ? Opcode::Binary : Opcode::Text, &reactor_->largePool());
  cmd.frame->setCompressible(info[3].ToBoolean());
  const double bytes = static_cast<double>(cmd.frame->payloadLength());
  submitCorked(std::move(cmd));
  return Napi::Number::New(info.Env(), bytes);
}

Napi::Value JsReactor::watchDrain(const Napi::CallbackInfo& info) {
  Command cmd(CommandType::Send);  // a send without a frame only sets the drain watch
  cmd.slot = u32(info, 0);
  cmd.flags = kNotifyDrain;
  submit(std::move(cmd));
  return info.Env().Undefined();
}

Napi::Value JsReactor::close(const Napi::CallbackInfo& info) {
  Command cmd(CommandType::Close);
  cmd.slot = u32(info, 0);
  cmd.code = info[1].As<Napi::Number>().Int32Value();
  cmd.text = info[2].As<Napi::String>().Utf8Value();
  if (info[3].ToBoolean()) cmd.flags = kDiscardQueue;
  submit(std::move(cmd));
  return info.Env().Undefined();
}

Napi::Value JsReactor::terminate(const Napi::CallbackInfo& info) { return slotCommand(info, CommandType::Terminate, false); }

Napi::Value JsReactor::release(const Napi::CallbackInfo& info) { return slotCommand(info, CommandType::Release, false); }

Napi::Value JsReactor::stopServer(const Napi::CallbackInfo& info) { return slotCommand(info, CommandType::StopServer, false); }

// setTls(id, seq, tlsOptions): new certificates and policy for server id's next handshakes.
Napi::Value JsReactor::setTls(const Napi::CallbackInfo& info) {
  auto opts = std::make_unique<ServerOptions>();
  readTlsOptions(info[2].As<Napi::Object>(), *opts);
  Command cmd(CommandType::SetTls);
  cmd.slot = u32(info, 0);
  cmd.code = static_cast<int32_t>(u32(info, 1));
  cmd.server = std::move(opts);
  submit(std::move(cmd));
  return info.Env().Undefined();
}

// connect(options): see clientOptionsFrom.
Napi::Value JsReactor::connect(const Napi::CallbackInfo& info) {
  std::unique_ptr<ClientOptions> opts = clientOptionsFrom(info[0].As<Napi::Object>());
  Command cmd(CommandType::Connect);
  cmd.client = std::move(opts);
  submit(std::move(cmd));
  return info.Env().Undefined();
}

// holdReads(slot, hold): a JS consumer stops (true) or restarts (false) reading this socket.
Napi::Value JsReactor::holdReads(const Napi::CallbackInfo& info) {
  Command cmd(CommandType::HoldReads);
  cmd.slot = u32(info, 0);
  cmd.code = info[1].ToBoolean() ? 1 : 0;
  submit(std::move(cmd));
  return info.Env().Undefined();
}

// abortConnect(id): give up a connect in progress; an established one is terminated.
Napi::Value JsReactor::abortConnect(const Napi::CallbackInfo& info) {
  return slotCommand(info, CommandType::AbortConnect, false);
}

// counters(chunk) -> Float64Array over the shared per-slot counters, or undefined.
Napi::Value JsReactor::counters(const Napi::CallbackInfo& info) {
  std::shared_ptr<CounterChunk> chunk = reactor_ ? reactor_->counterChunk(u32(info, 0)) : nullptr;
  if (!chunk) return info.Env().Undefined();
  void* data = static_cast<void*>(chunk->values);
  return shareAsFloat64(info.Env(), std::move(chunk), data, sizeof(CounterChunk::values));
}

Napi::Value JsReactor::shutdown(const Napi::CallbackInfo& info) {
  submit(Command(CommandType::Shutdown));
  if (reactor_) reactor_->flushWake();
  return info.Env().Undefined();
}

Napi::Value JsReactor::join(const Napi::CallbackInfo& info) {
  stopNow();
  return info.Env().Undefined();
}

// (on): JS holds events of dispatched batches back (a client's first events wait for its
// listeners); held closes must wait for them too.
Napi::Value JsReactor::holdAcks(const Napi::CallbackInfo& info) {
  if (reactor_) reactor_->holdAcks(info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

Napi::Value JsReactor::ref(const Napi::CallbackInfo& info) {
  wakeup_.ref();
  return info.Env().Undefined();
}

// setLogLevels(mask): which lws log levels (LLL_* bits) reach JS from now on.
Napi::Value JsReactor::setLogLevels(const Napi::CallbackInfo& info) {
  Command cmd(CommandType::SetLogLevels);
  cmd.code = static_cast<int32_t>(u32(info, 0));
  submit(std::move(cmd));
  return info.Env().Undefined();
}

// upgradeAccept(serverId, upgradeId, protocol, headerLines): finish a parked handshake.
Napi::Value JsReactor::upgradeAccept(const Napi::CallbackInfo& info) {
  Command cmd(CommandType::UpgradeAccept);
  cmd.slot = u32(info, 0);
  cmd.code = static_cast<int32_t>(u32(info, 1));
  cmd.text = info[2].As<Napi::String>().Utf8Value() + "\n" + info[3].As<Napi::String>().Utf8Value();
  submit(std::move(cmd));
  return info.Env().Undefined();
}

// upgradeReject(serverId, upgradeId, response: Uint8Array): answer a parked handshake and close.
Napi::Value JsReactor::upgradeReject(const Napi::CallbackInfo& info) {
  Command cmd(CommandType::UpgradeReject);
  cmd.slot = u32(info, 0);
  cmd.code = static_cast<int32_t>(u32(info, 1));
  const uint8_t* bytes = nullptr;
  size_t len = 0;
  if (!viewBytes(info.Env(), info[2], &bytes, &len)) throw Napi::TypeError::New(info.Env(), "response must be an ArrayBufferView");
  cmd.text.assign(reinterpret_cast<const char*>(bytes), len);
  submit(std::move(cmd));
  return info.Env().Undefined();
}

// adopt(serverId, fd, preamble: Uint8Array, attachId, owned, peer): hands a connected socket
// to the I/O thread. Node's fd is duplicated (Node closes its own afterwards) unless `owned`
// (our end of a socketPair(), passed as it is); `peer` names the client when lws cannot see
// it ("" otherwise). Returns false if it could not (an owned fd is closed then).
Napi::Value JsReactor::adopt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int nodeFd = info[1].As<Napi::Number>().Int32Value();
  const uint8_t* bytes = nullptr;
  size_t len = 0;
  if (!viewBytes(env, info[2], &bytes, &len)) throw Napi::TypeError::New(env, "preamble must be an ArrayBufferView");
  const bool owned = info[4].ToBoolean();
  std::string peer = info[5].As<Napi::String>().Utf8Value();
  const int fd = owned ? nodeFd : dupForAdoption(nodeFd);
  if (fd < 0) return Napi::Boolean::New(env, false);
  Command cmd(CommandType::Adopt);
  cmd.slot = u32(info, 0);
  cmd.code = fd;
  cmd.flags = u32(info, 3);
  cmd.text = peer.substr(0, peer.find('\n')) + "\n";
  cmd.text.append(reinterpret_cast<const char*>(bytes), len);
  // Cross-thread: the fd travels in the command; the I/O thread owns it once queued.
  if (!reactor_ || !reactor_->submit(std::move(cmd), dispatching_)) {
    ::close(fd);  // the reactor is being destroyed: nobody will adopt it
    return Napi::Boolean::New(env, false);
  }
  return Napi::Boolean::New(env, true);
}

// socketPair() -> [fd, fd]: a connected pair of Unix stream sockets (adopt.h), or throws.
Napi::Value JsReactor::socketPair(const Napi::CallbackInfo& info) {
  int fds[2];
  if (!makeSocketPair(fds)) throw Napi::Error::New(info.Env(), std::string("socketpair: ") + std::strerror(errno));
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, Napi::Number::New(info.Env(), fds[0]));
  out.Set(1u, Napi::Number::New(info.Env(), fds[1]));
  return out;
}

Napi::Value JsReactor::unref(const Napi::CallbackInfo& info) {
  wakeup_.unref();
  return info.Env().Undefined();
}

// publisherHandle(serverId) -> id a worker's createPublisher() resolves (see publisher.h).
Napi::Value JsReactor::publisherHandle(const Napi::CallbackInfo& info) {
  const uint32_t serverId = u32(info, 0);
  std::shared_ptr<PublishGate>& gate = gates_[serverId];
  if (!gate) {
    gate = std::make_shared<PublishGate>(reactor_.get(), serverId);
    PublisherRegistry::add(gate);
  }
  return Napi::Number::New(info.Env(), static_cast<double>(gate->id()));
}

// closePublishers(serverId): the server is closing; its publishers' later calls return false.
Napi::Value JsReactor::closePublishers(const Napi::CallbackInfo& info) {
  auto it = gates_.find(u32(info, 0));
  if (it != gates_.end()) {
    it->second->close();
    gates_.erase(it);
  }
  return info.Env().Undefined();
}

}  // namespace lwsnode
