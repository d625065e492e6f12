// The I/O thread and its loop: start, the uv_prepare turn (apply what came without a wakeup,
// flush, vhost work, publish, sleep), the idle tick, and the ordered destroy (reactor.h).
#include "reactor.h"

#include <libwebsockets.h>

#include <cstring>
#include <pthread.h>

#include "client.h"
#include "connection.h"
#include "server.h"

namespace lwsnode {

Reactor::Reactor(std::function<void()> notify, uint32_t logLevels)
    : notify_(std::move(notify)), scratch_(std::make_unique<uint8_t[]>(LWS_PRE + kScratchSize)) {
  // This context's (and its vhosts' and connections') lws log lines become Log events; nothing
  // from lws reaches stderr.
  logCx_.u.emit_cx = &Reactor::emitLog;
  logCx_.opaque = this;
  logCx_.lll_flags = LLLF_LOG_CONTEXT_AWARE | logLevels;
}

void Reactor::emitLog(lws_log_cx* cx, int level, const char* line, size_t len) {
  auto* self = static_cast<Reactor*>(cx->opaque);
  // The batch belongs to the I/O thread; a line lws logs from a caller's thread is dropped.
  if (std::this_thread::get_id() != self->ioThread_) return;
  while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) --len;
  self->pending_.pushCopy(EventType::Log, 0, static_cast<uint32_t>(level), line, len);
}

Reactor::~Reactor() { stopAndJoin(); }

void Reactor::start() { thread_ = std::thread([this] { run(); }); }

void Reactor::stopAndJoin() {
  if (!thread_.joinable()) return;
  Command cmd(CommandType::Shutdown);
  // Cross-thread: through the command queue; refused if destruction already began: fine either way.
  submit(std::move(cmd));
  thread_.join();
}

void Reactor::run() {
  ioThread_ = std::this_thread::get_id();
  pthread_setname_np(pthread_self(), "lwsnode-io");  // visible in /proc, gdb and perf
  uv_loop_init(&loop_);
  uv_prepare_init(&loop_, &prepare_);
  prepare_.data = this;
  uv_prepare_start(&prepare_, [](uv_prepare_t* h) { static_cast<Reactor*>(h->data)->onPrepare(); });
  uv_async_init(&loop_, &wake_, [](uv_async_t* h) { static_cast<Reactor*>(h->data)->onWake(); });
  wake_.data = this;
  uv_timer_init(&loop_, &idleTimer_);
  idleTimer_.data = this;
  uv_timer_start(&idleTimer_, [](uv_timer_t* h) { static_cast<Reactor*>(h->data)->onIdleTick(); }, kIdleTickMs,
                 kIdleTickMs);
  // A payload makes the answer visible: lws 4.3 reports only pongs that carry one.
  keepalivePing_ = Frame::create(Opcode::Ping, 4);
  if (keepalivePing_) std::memcpy(keepalivePing_->payload(), "ping", 4);

  void* foreignLoops[] = {&loop_};
  lws_context_creation_info info{};
  // SSL "global init" only acquires lws's ex-data indexes (OpenSSL itself is node's, already
  // initialised); TLS vhosts need it on the context.
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.foreign_loops = foreignLoops;
  info.port = CONTEXT_PORT_NO_LISTEN;  // the default vhost only receives EVENT_WAIT_CANCELLED
  info.protocols = protocols();
  info.user = this;
  info.pcontext = &context_;  // lws clears it when the second destroy frees the context
  info.pt_serv_buf_size = 256 * 1024;  // one recv() per readable socket takes up to this
  // Header buffers ("ah"): each upgrade request holds one until it is answered, also while a
  // server's upgrade hook decides. Servers check maxHeaderSize (at most this) themselves and
  // bound their parked handshakes (maxPendingUpgrades); a request that overflows this buffer
  // is dropped by lws without an answer. Parked handshakes of all servers together hold at
  // most kMaxParkedHandshakes of the pool (Server::mayPark).
  info.max_http_header_data = 16 * 1024;
  info.max_http_header_pool = kHeaderPool;
  info.timeout_secs = 10;
  info.log_cx = &logCx_;

  context_ = lws_create_context(&info);
  bool failed = context_ == nullptr;
  if (failed) {
    commands_.detach();
    uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&idleTimer_), nullptr);
  } else {
    commands_.attach(&wake_);
  }

  uv_run(&loop_, UV_RUN_DEFAULT);  // returns once beginDestroy() let every handle close

  if (context_) lws_context_destroy(context_);  // second call: frees the context
  servers_.clear();
  graveyard_.clear();
  clients_.clear();
  clientGraveyard_.clear();
  keepalivePing_ = FrameRef();
  uv_loop_close(&loop_);

  pending_.push(EventType::Stopped, 0, failed ? 1 : 0);
  finished_.store(true, std::memory_order_release);  // Cross-thread: JS's finished() reads it
  publishEvents();
}

void Reactor::onPrepare() {
  for (int round = 1;; ++round) {
    prepareTurn();
    if (destroying_) return;
    // Cross-thread: from here pushes wake us again; or a JS turn's commands came while we were
    // awake (JS answered the events just published: on one core it runs as soon as we wake
    // it): apply them now, no wakeup sent, unless JS has kept us busy for kPrepareRounds
    // rounds (then our own wakeup lets the loop poll the sockets first).
    if (commands_.sleep(round < kPrepareRounds)) return;
  }
}

void Reactor::prepareTurn() {
  // Cross-thread: commands JS pushed while this thread was awake came without a wakeup.
  if (!destroying_) applyBeforeSleep();
  flushDirty();  // anything queued outside a command batch (pings, stop) leaves before we sleep
  // vhost-level work runs here, outside every lws callback.
  if (!destroying_)
    for (auto& entry : servers_) entry.second->resumeParked();
  const bool touchedLws = !deferred_.empty() || !toDestroy_.empty() || lwsNeedsTurn_;
  lwsNeedsTurn_ = false;
  if (!deferred_.empty()) {
    std::vector<Command> work;
    work.swap(deferred_);
    for (Command& cmd : work) applyDeferred(cmd);
  }
  if (!toDestroy_.empty()) {
    std::vector<uint32_t> ids;
    ids.swap(toDestroy_);
    for (uint32_t id : ids) {
      auto it = servers_.find(id);
      if (it != servers_.end()) it->second->destroyVhost();
    }
  }
  graveyard_.clear();
  clientGraveyard_.clear();
  publishEvents();
  if (shutdownRequested_ && !destroying_) {
    beginDestroy();
  } else if (touchedLws && !destroying_) {
    // lws re-arms its timer (which runs async closes and our deadlines) only after servicing
    // an fd; work done from outside its callbacks needs one such turn.
    lws_cancel_service(context_);
  }
}

void Reactor::beginDestroy() {
  destroying_ = true;
  commands_.detach();  // from here on nobody calls uv_async_send() on wake_
  uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
  for (auto& entry : clients_) entry.second->cancelDeadline();
  lws_context_destroy(context_);  // first call: closes listeners and connections
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&idleTimer_), nullptr);
}

void Reactor::onIdleTick() {
  if (destroying_ || !keepalivePing_) return;
  const uint64_t now = nowMs();
  for (auto& entry : servers_) lwsNeedsTurn_ |= entry.second->checkIdle(now, keepalivePing_);
  flushDirty();
}

}  // namespace lwsnode
