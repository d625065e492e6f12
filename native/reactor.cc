#include "reactor.h"

#include <libwebsockets.h>

#include <algorithm>
#include <cstring>
#include <pthread.h>
#include <strings.h>
#include <unistd.h>

#include "client.h"
#include "connection.h"
#include "server.h"
#include "tls_certs.h"
#include "upgrade.h"

namespace lwsnode {

namespace {

// lws's per-connection user data.
struct Session {
  Connection* conn;  // set at ESTABLISHED, owned by the wsi until CLOSED
  uint8_t deflateWindow;  // permessage-deflate accepted: the window we compress with (8: none)
};

// One protocol serves every vhost; per-server state hangs off the vhost's user pointer.
const lws_protocols kProtocols[] = {
    {
        "lwsnode",
        &Reactor::lwsCallback,
        sizeof(Session),  // per-session data: the owning Connection
        // rx_buffer_size: allocated per connection, and the most lws hands us per RECEIVE.
        // Measured: 1 KiB saves 2.9 KiB per idle connection but halves 1 MiB echo throughput.
        4096,
        0,
        nullptr,
        64 * 1024 * 1024,  // tx_packet_size: let one write hand the kernel all it takes
    },
    LWS_PROTOCOL_LIST_TERM,
};

// What a client vhost with perMessageDeflate offers. No context takeover for the client's
// direction costs nothing (we never compress); the server's window stays its choice.
const lws_extension kClientExtensions[] = {
    {"permessage-deflate", lws_extension_callback_pm_deflate, "permessage-deflate; client_no_context_takeover; client_max_window_bits"},
    {nullptr, nullptr, nullptr},
};

Server* serverOf(lws* wsi) {
  lws_vhost* vh = lws_get_vhost(wsi);
  if (!vh) return nullptr;
  void* user = lws_vhost_user(vh);
  // The default vhost inherits the context's user pointer (the Reactor): it is no server.
  return user == lws_context_user(lws_get_context(wsi)) ? nullptr : static_cast<Server*>(user);
}

PendingUpgrade* pendingOf(lws* wsi) {
  Server* server = serverOf(wsi);
  return server ? server->pendingOf(wsi) : nullptr;
}

}  // namespace

const lws_protocols* Reactor::protocols() { return kProtocols; }

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
  submit(std::move(cmd));  // refused if destruction already began: fine either way
  thread_.join();
}

// ---- JS thread: events out ----

std::vector<EventBatch> Reactor::takeEvents() { return outbox_.take(); }

bool Reactor::deliveryDone() { return outbox_.deliveryDone(); }

void Reactor::eventsConsumed(size_t bytes) {
  const size_t left = outbox_.consumed(bytes);
  if (left < kInboundHighWater / 2 && pausedCount_.load(std::memory_order_acquire) > 0 &&
      !resumeRequested_.exchange(true, std::memory_order_acq_rel)) {
    submit(Command(CommandType::ResumeReads));
  }
}

void Reactor::batchesDispatched(size_t count) {
  if (!count) return;
  jsDispatched_ += static_cast<uint32_t>(count);
  if (!ackHolds_) acknowledge();
}

void Reactor::holdAcks(bool on) {
  if (on) {
    ++ackHolds_;
  } else if (ackHolds_ && --ackHolds_ == 0) {
    acknowledge();
    flushWake();  // outside a dispatch: nobody else wakes the I/O thread
  }
}

void Reactor::acknowledge() {
  dispatchedBatches_.store(jsDispatched_);  // after the handlers' sends were queued
  if (heldCloses_.load() == 0) return;
  Command ack(CommandType::EventsSeen);
  ack.slot = jsDispatched_;
  submit(std::move(ack), true);  // behind the handlers' sends; woken by the dispatch's flushWake
}

// ---- I/O thread ----

uint32_t Reactor::holdClose(Connection& conn) {
  // The events so far travel in the batch being filled, or in the last one published.
  const uint32_t batch = pending_.empty() ? publishedBatches_ : publishedBatches_ + 1;
  heldSlots_.push_back(conn.slot());
  heldCloses_.store(static_cast<uint32_t>(heldSlots_.size()));
  const uint32_t dispatched = dispatchedBatches_.load();
  if (static_cast<int32_t>(dispatched - batch) >= 0) {
    // JS ran those handlers already and may not acknowledge again: queue the acknowledgement
    // ourselves, behind the sends those handlers queued (pushed from the I/O thread).
    Command ack(CommandType::EventsSeen);
    ack.slot = dispatched;
    commands_.push(std::move(ack), false);
  }
  return batch;
}

void Reactor::run() {
  ioThread_ = std::this_thread::get_id();
  pthread_setname_np(pthread_self(), "lwsnode-io");  // visible in /proc, gdb and perf
  uv_loop_init(&loop_);
  uv_prepare_init(&loop_, &prepare_);
  prepare_.data = this;
  uv_prepare_start(&prepare_, [](uv_prepare_t* h) { static_cast<Reactor*>(h->data)->onPrepare(); });
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
  info.protocols = kProtocols;
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
    uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&idleTimer_), nullptr);
  } else {
    commands_.attach(context_);
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
  finished_.store(true, std::memory_order_release);
  publishEvents();
}

void Reactor::onPrepare() {
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
  // Cross-thread: from here pushes wake us again (or, if one came since applyBeforeSleep,
  // the poll we are about to enter returns at once).
  if (!destroying_) commands_.sleep();
}

void Reactor::applyBeforeSleep() {
  std::vector<Command> cmds = commands_.takeBeforeSleep();
  if (cmds.empty()) return;
  for (Command& cmd : cmds) {
    // Outside lws's callbacks: whatever arms an lws timer (close deadlines, kills) needs an
    // lws turn to take effect; writes and subscriptions do not.
    const CommandType t = cmd.type;
    if (t != CommandType::Send && t != CommandType::Publish && t != CommandType::Broadcast &&
        t != CommandType::Subscribe && t != CommandType::Unsubscribe)
      lwsNeedsTurn_ = true;
    apply(cmd);
  }
}

void Reactor::beginDestroy() {
  destroying_ = true;
  commands_.detach();  // from here on nobody may call lws_cancel_service()
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

void Reactor::publishEvents() {
  if (pending_.empty()) return;
  const bool kick = outbox_.publish(std::move(pending_));
  pending_ = EventBatch();
  ++publishedBatches_;
  // Cross-thread: one TSFN call per burst, and none while JS is still dispatching (kickPending_
  // stays set until deliveryDone()); JS takes every queued batch when it runs.
  if (kick) notify_();
}

void Reactor::applyCommands() {
  std::vector<Command> cmds = commands_.takeAll();
  for (Command& cmd : cmds) apply(cmd);
  flushDirty();  // one write per connection for the whole batch
}

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

void Reactor::apply(Command& cmd) {
  switch (cmd.type) {
    case CommandType::Send:
      if (Connection* c = slots_.get(cmd.slot)) c->enqueue(std::move(cmd.frame), cmd.flags, true);
      break;
    case CommandType::Close:
      if (Connection* c = slots_.get(cmd.slot)) c->close(cmd.code, cmd.text, (cmd.flags & kDiscardQueue) != 0);
      break;
    case CommandType::Terminate:
      if (Connection* c = slots_.get(cmd.slot)) c->terminate();
      break;
    case CommandType::HoldReads:
      if (Connection* c = slots_.get(cmd.slot)) c->holdReads(cmd.code != 0);
      break;
    case CommandType::Release:
      slots_.release(cmd.slot);
      break;
    case CommandType::Subscribe:
      if (Connection* c = slots_.get(cmd.slot); c && c->server()) c->server()->subscribe(*c, cmd.text);
      break;
    case CommandType::Unsubscribe:
      if (Connection* c = slots_.get(cmd.slot); c && c->server()) c->server()->unsubscribe(*c, cmd.text);
      break;
    case CommandType::Publish:
    case CommandType::Broadcast: {
      auto it = servers_.find(cmd.slot);
      if (it == servers_.end()) break;
      if (cmd.type == CommandType::Broadcast) {
        it->second->broadcast(cmd.frame);
      } else {
        Connection* sender = (cmd.flags & kExcludeSender) ? slots_.get(static_cast<uint32_t>(cmd.code)) : nullptr;
        it->second->publish(cmd.text, cmd.frame, sender);
      }
      break;
    }
    case CommandType::EventsSeen: {
      size_t kept = 0;
      for (uint32_t slot : heldSlots_) {
        Connection* c = slots_.get(slot);
        if (c && c->holdingClose() && !c->releaseHeldClose(cmd.slot)) heldSlots_[kept++] = slot;
      }
      heldSlots_.resize(kept);
      heldCloses_.store(static_cast<uint32_t>(kept));
      break;
    }
    case CommandType::SetLogLevels:
      logCx_.lll_flags = LLLF_LOG_CONTEXT_AWARE | static_cast<uint32_t>(cmd.code);
      break;
    case CommandType::ResumeReads:
      resumeRequested_.store(false, std::memory_order_release);
      for (Connection* c : paused_) c->resumeReads();
      paused_.clear();
      pausedCount_.store(0, std::memory_order_release);
      break;
    case CommandType::UpgradeAccept:
    case CommandType::UpgradeReject: {
      auto it = servers_.find(cmd.slot);
      if (it == servers_.end()) break;
      const auto id = static_cast<uint32_t>(cmd.code);
      if (cmd.type == CommandType::UpgradeReject) {
        it->second->rejectUpgrade(id, std::move(cmd.text));
      } else {
        const size_t nl = cmd.text.find('\n');
        it->second->acceptUpgrade(id, cmd.text.substr(0, nl), nl == std::string::npos ? std::string() : cmd.text.substr(nl + 1));
      }
      break;
    }
    case CommandType::SetTls: {
      auto it = servers_.find(cmd.slot);
      if (it != servers_.end()) {
        it->second->setTls(static_cast<uint32_t>(cmd.code), *cmd.server);
      } else {
        static const char kGone[] = "ERR_TLS_CERT the server is closed";
        if (pending_.pushCopy(EventType::TlsApplied, 0, cmd.slot, kGone, sizeof kGone - 1))
          pending_.records.back().b = static_cast<uint32_t>(cmd.code);
      }
      break;
    }
    case CommandType::Listen:
    case CommandType::StopServer:
    case CommandType::Shutdown:
    case CommandType::Connect:       // may create a client vhost
    case CommandType::AbortConnect:  // stays ordered after its Connect
    case CommandType::Adopt:         // lws parses the replayed request inside the adoption
      deferred_.push_back(std::move(cmd));
      break;
  }
}

void Reactor::applyDeferred(Command& cmd) {
  switch (cmd.type) {
    case CommandType::Listen: {
      const uint32_t id = cmd.server->id;
      auto server = std::make_unique<Server>(*this, std::move(cmd.server));
      std::string error;
      if (server->listen(error)) {
        pending_.push(EventType::Listening, 0, id, static_cast<uint32_t>(server->port()));
        servers_[id] = std::move(server);
      } else {
        pending_.pushCopy(EventType::ListenError, 0, id, error.data(), error.size());
      }
      break;
    }
    case CommandType::StopServer: {
      auto it = servers_.find(cmd.slot);
      if (it != servers_.end())
        it->second->stop();
      else
        pending_.push(EventType::ServerClosed, 0, cmd.slot);
      break;
    }
    case CommandType::Shutdown:
      shutdownRequested_ = true;
      break;
    case CommandType::Connect: {
      const uint32_t id = cmd.client->id;
      auto client = std::make_unique<Client>(*this, std::move(cmd.client));
      Client& c = *client;
      clients_[id] = std::move(client);
      c.connect(clientVhost(c));
      break;
    }
    case CommandType::AbortConnect: {
      auto it = clients_.find(cmd.slot);
      if (it != clients_.end()) it->second->abort();
      break;
    }
    case CommandType::Adopt: {
      auto it = servers_.find(cmd.slot);
      if (it != servers_.end())
      {
        const size_t nl = cmd.text.find('\n');  // "peer\n" + the bytes already read
        it->second->adopt(cmd.code, cmd.text.substr(nl + 1), cmd.flags, cmd.text.substr(0, nl));
      }
      else
        close(cmd.code);  // the server is gone: so is the connection
      break;
    }
    default:
      break;
  }
}

lws_vhost* Reactor::clientVhost(const Client& client) {
  const std::string key = client.vhostKey();
  auto it = clientVhosts_.find(key);
  if (it != clientVhosts_.end() && it->second.vhost) return it->second.vhost;
  ClientVhost& entry = clientVhosts_[key];  // a map node never moves: lws keeps the name's pointer
  entry.name = "lwsnode-client-" + std::to_string(clientVhosts_.size());
  const ClientOptions& o = client.options();
  lws_context_creation_info info{};
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = kProtocols;
  info.vhost_name = entry.name.c_str();
  info.user = this;  // like the default vhost: serverOf() sees no Server here
  info.log_cx = &logCx_;
  if (o.perMessageDeflate) info.extensions = kClientExtensions;
  // lws tunnels each connection of this vhost through the proxy with CONNECT host:port. Without
  // one, say so: lws would otherwise take $http_proxy from the environment, and a proxy is
  // opt-in (the `proxy` option). ":0" parses as no address, port 0: no proxy, and no error log.
  const bool v6 = o.proxyAddress.find(':') != std::string::npos;  // lws wants "[::1]:port"
  const std::string proxy = o.proxyAddress.empty() ? ":0"
                            : (v6 ? "[" + o.proxyAddress + "]" : o.proxyAddress) + ":" + std::to_string(o.proxyPort);
  info.http_proxy_address = proxy.c_str();  // copied by lws_create_vhost
  if (o.tls) {
    // Creates this vhost's client SSL_CTX (node's OpenSSL): the system's trust store, plus the
    // first certificate of `ca` when given (the others are added below). lws shares one
    // SSL_CTX between vhosts whose settings below hash the same, so each setting goes through
    // `info` (all hashed), never onto the SSL_CTX afterwards.
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    if (!o.ca.empty()) {
      info.client_ssl_ca_mem = o.ca.data();
      info.client_ssl_ca_mem_len = static_cast<unsigned int>(o.ca.size());
    }
    if (!o.cert.empty()) {  // mutual TLS: lws loads the PEM leaf and (unencrypted) key
      info.client_ssl_cert_mem = o.cert.data();
      info.client_ssl_cert_mem_len = static_cast<unsigned int>(o.cert.size());
      info.client_ssl_key_mem = o.key.data();
      info.client_ssl_key_mem_len = static_cast<unsigned int>(o.key.size());
    }
    info.ssl_client_options_set = static_cast<long>(SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 |
                                                    (o.minVersion >= TLS1_3_VERSION ? SSL_OP_NO_TLSv1_2 : 0));
    if (!o.ciphers.empty()) info.client_ssl_cipher_list = o.ciphers.c_str();
    info.ssl_info_event_mask = SSL_CB_READ_ALERT;  // a refusal by alert names its reason (Client::onTlsInfo)
    if (!o.ciphersuites.empty()) info.client_tls_1_3_plus_cipher_list = o.ciphersuites.c_str();
  }
  entry.vhost = lws_create_vhost(context_, &info);
  // JS checked every certificate of the bundle; one the store refuses (a duplicate) just adds
  // nothing, as with Node's own `ca`.
  if (entry.vhost && o.tls) addClientTrust(entry.vhost, o.ca, 1);
  return entry.vhost;
}

void Reactor::onClientGone(Client& client) {
  auto it = clients_.find(client.id());
  if (it == clients_.end()) return;
  clientGraveyard_.push_back(std::move(it->second));
  clients_.erase(it);
}

bool Reactor::inboundCongested() const {
  return outbox_.undelivered() + pending_.payloadBytes > kInboundHighWater;
}

void Reactor::pauseReads(Connection& conn) {
  lws_rx_flow_control(conn.wsi(), 0);
  paused_.push_back(&conn);
  pausedCount_.store(paused_.size(), std::memory_order_release);
}

void Reactor::forgetPaused(Connection& conn) {
  auto it = std::find(paused_.begin(), paused_.end(), &conn);
  if (it == paused_.end()) return;
  paused_.erase(it);
  pausedCount_.store(paused_.size(), std::memory_order_release);
}

void Reactor::deferDestroy(Server& server) {
  if (!destroying_) toDestroy_.push_back(server.id());
}

void Reactor::onServerGone(Server& server) {
  pending_.push(EventType::ServerClosed, 0, server.id());
  auto it = servers_.find(server.id());
  if (it == servers_.end()) return;
  graveyard_.push_back(std::move(it->second));
  servers_.erase(it);
}

// ---- lws ----

int Reactor::lwsCallback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len) {
  auto* self = static_cast<Reactor*>(lws_context_user(lws_get_context(wsi)));
  // This thread is running lws's callbacks: it passes through onPrepare before it polls again.
  self->commands_.markAwake();
  auto* session = static_cast<Session*>(user);
  Connection** pss = session ? &session->conn : nullptr;

  switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      // Broadcast to every vhost with no real wsi: never touch per-session data here.
      self->applyCommands();
      return 0;

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
      Server* server = serverOf(wsi);
      if (!server || !in || strcasecmp(static_cast<const char*>(in), "websocket") != 0) return -1;
      return server->onConfirmUpgrade(wsi);
    }

    case LWS_CALLBACK_ADD_HEADERS:  // building a resumed handshake's 101
      if (PendingUpgrade* pending = pendingOf(wsi))
        return pending->addHeaders(*static_cast<lws_process_html_args*>(in)) ? 0 : 1;
      return 0;

    case LWS_CALLBACK_HTTP_WRITEABLE:  // a refused handshake's response
      if (PendingUpgrade* pending = pendingOf(wsi))
        if (pending->rejecting()) return pending->writeResponse();
      return 0;

    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
      Server* server = serverOf(wsi);
      return server && server->acceptsUpgrade(wsi) ? 0 : 1;
    }

    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS: {  // inside lws_create_vhost
      // `wsi` is a stand-in here; `in` is the vhost being created.
      void* owner = lws_vhost_user(static_cast<lws_vhost*>(in));
      if (owner == self) return 0;  // the context's default vhost
      return static_cast<Server*>(owner)->configureTls(static_cast<SSL_CTX*>(user)) ? 0 : 1;
    }

    case LWS_CALLBACK_NEGOTIATE_EXTENSIONS: {  // our lws patch 0500: during the handshake
      Server* server = serverOf(wsi);
      if (!server || !session) return 1;
      const int window = server->negotiateDeflate(*static_cast<lws_ext_negotiation*>(in));
      session->deflateWindow = static_cast<uint8_t>(window);
      return window ? 0 : 1;
    }

    case LWS_CALLBACK_ESTABLISHED: {
      Server* server = serverOf(wsi);
      if (!server || !pss) return -1;
      char addr[64] = "";
      server->peerAddress(wsi, addr, sizeof addr);
      // "address\nsubprotocol\nurl", then a line per captureHeaders name ("=value" or empty
      // when absent). The header table is still attached here; nothing is read unless asked.
      std::string opened(addr);
      PendingUpgrade* pending = server->pendingOf(wsi);
      opened += '\n';
      if (pending) opened += pending->protocol();
      opened += '\n';
      opened += requestTarget(wsi);
      const std::vector<std::string>& capture = server->options().captureHeaders;
      if (!capture.empty()) appendCapturedHeaders(opened, wsi, capture);
      const uint32_t slot = self->slots_.acquire();
      // No Open event (out of memory): JS would never know the socket, so it is refused, and
      // the slot goes straight back (nothing will ever release it from JS).
      server->announcePeer(wsi, slot, false);  // mTLS: the client's certificate, before its Open
      if (!self->pending_.pushCopy(EventType::Open, slot, server->id(), opened.data(), opened.size())) {
        self->slots_.vacate(slot);
        self->slots_.release(slot);
        return -1;
      }
      // Resumed from the hook: JS pairs the socket with what its decision kept (ws.data).
      if (pending) self->pending_.records.back().b = pending->id();
      auto conn = std::make_unique<Connection>(*self, *server, wsi, slot);
      // Accepted with a window we can compress with (not 8): our frames go out compressed.
      if (Deflater* d = session->deflateWindow ? server->deflater(session->deflateWindow) : nullptr)
        conn->enableDeflate(*d);
      self->slots_.attach(slot, conn.get());
      server->onConnectionOpened(*conn);
      *pss = conn.release();  // owned by the wsi until CLOSED
      return 0;
    }

    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_CLIENT_RECEIVE:
      return pss && *pss ? (*pss)->onReceive(in, len) : -1;

    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_CLIENT_WRITEABLE:
      return pss && *pss ? (*pss)->onWritable() : 0;

    case LWS_CALLBACK_RECEIVE_PING:  // our lws patch: lws answers, we report
    case LWS_CALLBACK_CLIENT_RECEIVE_PING:
      if (pss && *pss) (*pss)->onPing(in, len);
      return 0;

    case LWS_CALLBACK_RECEIVE_PONG:
    case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
      if (pss && *pss) (*pss)->onPong(in, len);
      return 0;

    case LWS_CALLBACK_WS_HOLD_CLOSE:  // our lws patch 0500
      return pss && *pss && (*pss)->onCloseHold(static_cast<const uint8_t*>(in), len) ? 1 : 0;

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      return pss && *pss ? (*pss)->onPeerClose(static_cast<const uint8_t*>(in), len) : 0;

    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_CLIENT_CLOSED:
      if (pss && *pss) {
        std::unique_ptr<Connection> conn(*pss);  // adopt the wsi's reference
        *pss = nullptr;
        conn->onClosed();
        if (Server* server = conn->server()) server->onConnectionClosed(*conn);
        self->slots_.vacate(conn->slot());
        conn.reset();  // before its Client (which owns its limits) is let go
        if (reason == LWS_CALLBACK_CLIENT_CLOSED) {
          if (auto* client = static_cast<Client*>(lws_get_opaque_user_data(wsi))) client->onConnectionClosed();
          lws_set_opaque_user_data(wsi, nullptr);
        }
      }
      return 0;

    // ---- client connections (the opaque user data is the Client until its outcome) ----
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
      auto* client = static_cast<Client*>(lws_get_opaque_user_data(wsi));
      return client ? client->appendHeaders(wsi, static_cast<unsigned char**>(in), len) : 0;
    }

    case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
      if (auto* client = static_cast<Client*>(lws_get_opaque_user_data(wsi)))
        return client->beforeEstablished(wsi) ? 0 : 1;
      return 0;

    case LWS_CALLBACK_CLIENT_ESTABLISHED: {
      auto* client = static_cast<Client*>(lws_get_opaque_user_data(wsi));
      return client ? client->onEstablished(wsi, user) : -1;
    }

    case LWS_CALLBACK_SSL_INFO:  // client vhosts ask for alerts received (ssl_info_event_mask)
      if (auto* client = static_cast<Client*>(lws_get_opaque_user_data(wsi))) {
        const auto* si = static_cast<const lws_ssl_info*>(in);
        client->onTlsInfo(si->where, si->ret);
      }
      return 0;

    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
      if (auto* client = static_cast<Client*>(lws_get_opaque_user_data(wsi)))
        client->onConnectError(wsi, static_cast<const char*>(in), len);
      return 0;

    case LWS_CALLBACK_WSI_DESTROY:
      // A handshake parked for the upgrade hook whose client went away.
      if (PendingUpgrade* pending = pendingOf(wsi)) pending->server().onUpgradeGone(*pending);
      // lws does not always report a connect that dies mid-handshake (a peer that hangs up
      // while we wait for its 101 gets CLOSED_CLIENT_HTTP, not CONNECTION_ERROR): whatever is
      // still unreported when the wsi goes is a failure, and the Client must forget the wsi.
      if (auto* client = static_cast<Client*>(lws_get_opaque_user_data(wsi))) {
        lws_set_opaque_user_data(wsi, nullptr);
        client->onWsiDestroyed(wsi);
      }
      return 0;

    case LWS_CALLBACK_HTTP: {
      Server* server = serverOf(wsi);
      return server ? server->onHttpRequest(wsi) : -1;
    }

    case LWS_CALLBACK_PROTOCOL_DESTROY:
      if (Server* server = serverOf(wsi)) server->onVhostDestroyed();
      return 0;

    default:
      return 0;
  }
}

}  // namespace lwsnode
