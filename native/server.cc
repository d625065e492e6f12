#include "server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <algorithm>
#include <cstring>

#include "connection.h"
#include "lws_common.h"
#include "pmd_offer.h"
#include "reactor.h"
#include "topic.h"
#include "upgrade_request.h"

namespace lwsnode {

namespace {

// lws reports a failed bind only as "failed" (and for a numeric address that is not local, it
// retries forever). Binding a throwaway socket the way lws will (SO_REUSEADDR, v6-only for
// IPv6) first tells us the errno, so createServer rejects with the code Node users know.
// Returns 0 when the address looks bindable.
int probeBind(const std::string& host, int port, bool reusePort) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (host.empty() || inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    if (host.empty()) v4->sin_addr.s_addr = htonl(INADDR_ANY);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v6;
  } else {
    return EINVAL;
  }
  const int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reusePort) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  const int rc = bind(fd, reinterpret_cast<sockaddr*>(&ss), len);
  const int err = rc == 0 ? 0 : errno;
  close(fd);
  return err;
}

}  // namespace

Server::Server(Reactor& reactor, std::unique_ptr<ServerOptions> options)
    : reactor_(reactor),
      options_(std::move(options)),
      vhostName_("lwsnode-" + std::to_string(options_->id)),
      addressLimits_(options_->maxConnectionsPerIp, options_->handshakeRateLimit) {}

Server::~Server() = default;

bool Server::listen(std::string& error) {
  const std::string where = !options_->unixPath.empty() ? options_->unixPath
                            : (options_->host.empty() ? std::string("0.0.0.0") : options_->host) + ":" +
                                  std::to_string(options_->port);
  // Also for port 0: lws 4.3.5 retries a failed bind to a numeric address forever. A Unix
  // path in use is refused here: lws would unlink it and take it over.
  const int err = options_->attached          ? 0
                  : !options_->unixPath.empty() ? probeUnixPath(options_->unixPath)
                                                : probeBind(options_->host, options_->port, options_->reusePort);
  if (err) {
    const char* code = errnoCode(err, "ELISTEN");
    error = std::string(code) + " listen " + code + ": " + std::strerror(err) + " " + where;
    return false;
  }
  lws_context_creation_info info{};
  info.port = options_->port;
  info.iface = options_->host.empty() ? nullptr : options_->host.c_str();
  if (options_->attached) {
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;  // a server vhost whose sockets are adopted
    info.iface = nullptr;
  } else if (!options_->unixPath.empty()) {
    info.iface = options_->unixPath.c_str();
  }
  info.protocols = Reactor::protocols();
  info.vhost_name = vhostName_.c_str();
  info.user = this;
  info.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;  // UTF-8: see Connection::onReceive
  if (!options_->unixPath.empty()) info.options |= LWS_SERVER_OPTION_UNIX_SOCK;
  if (options_->reusePort) info.options |= LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE;  // SO_REUSEPORT
  info.retry_and_idle_policy = &kNoValidityTimers;
  if (options_->perMessageDeflate) info.extensions = kServerDeflateExtension;  // negotiation and inflating: lws's
  info.log_cx = reactor_.logContext();  // this vhost's and its connections' lines go to JS too
  // The whole upgrade request must arrive within this (lws's "ah idle" timeout starts when the
  // connection gets its header buffer and is not reset by trickled bytes: slowloris dies here).
  info.timeout_secs_ah_idle = options_->handshakeTimeoutSecs;
  if (!options_->tlsCert.empty()) {
    // wss://: lws loads the PEM from memory into this vhost's own SSL_CTX (node's OpenSSL).
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.server_ssl_cert_mem = options_->tlsCert.data();
    info.server_ssl_cert_mem_len = static_cast<unsigned int>(options_->tlsCert.size());
    info.server_ssl_private_key_mem = options_->tlsKey.data();
    info.server_ssl_private_key_mem_len = static_cast<unsigned int>(options_->tlsKey.size());
    info.ssl_options_set = SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;  // TLS 1.2+
  }
  vhost_ = lws_create_vhost(reactor_.context(), &info);
  if (!vhost_) {
    // tlsError_ is "CODE message": the message is what the listen error says.
    error = options_->tlsCert.empty() ? "ELISTEN listen ELISTEN: could not listen on " + where
            : !tlsError_.empty()      ? "ETLS listen ETLS: " + tlsError_.substr(tlsError_.find(' ') + 1) + " on " + where
                                      : "ETLS listen ETLS: the TLS certificate or key was refused on " + where;
    return false;
  }
  port_ = options_->attached || !options_->unixPath.empty() ? 0 : lws_get_vhost_listen_port(vhost_);
  return true;
}

bool Server::pathAllowed(lws* wsi) {
  if (options_->paths.empty()) return true;
  char uri[1024];
  const int n = lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
  if (n < 0) return false;
  const char* query = std::strchr(uri, '?');
  const size_t pathLen = query ? static_cast<size_t>(query - uri) : static_cast<size_t>(n);
  for (const std::string& path : options_->paths)
    if (pathLen == path.size() && std::memcmp(uri, path.data(), pathLen) == 0) return true;
  return false;
}

int Server::refuse(lws* wsi, unsigned status) {
  stats().add(ServerStats::Rejected, 1);
  // Answered: lws completes the transaction, which for an upgrade request means closing.
  return lws_return_http_status(wsi, status, nullptr) ? -1 : 1;
}

int Server::onConfirmUpgrade(lws* wsi) {
  if (stopping_) return refuse(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE);
  if (options_->maxConnections && connections_.size() >= options_->maxConnections)
    return refuse(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE);
  if (addressLimits_.enabled()) {
    char addr[64] = "";
    lws_get_peer_simple(wsi, addr, sizeof addr);
    if (!addressLimits_.admit(addr, reactor_.nowMs())) return refuse(wsi, 429);  // Too Many Requests
  }
  if (!pathAllowed(wsi)) return refuse(wsi, HTTP_STATUS_NOT_FOUND);
  // Before everything that reads header values (lws's own subprotocol check included).
  const RequestHeaderScan headers = scanRequestHeaders(wsi);
  if (headers.hasNul) return refuse(wsi, HTTP_STATUS_BAD_REQUEST);
  // A request that breaks RFC 6455 is refused in FILTER_PROTOCOL_CONNECTION (acceptsUpgrade,
  // with the answer the RFC asks for): let lws go on to it, without a trip to JS.
  if (upgradeRequestError(wsi)) return 0;
  if (!options_->upgradeHook) {
    // No JS round trip without a hook: only the header limit, then lws goes on as before...
    if (headers.bytes > options_->maxHeaderSize) return refuse(wsi, 431);
    if (!lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL)) return 0;
    // ...except that lws would refuse every subprotocol offered (it knows none): park the
    // handshake and resume it on this loop turn (resumeParked) with the first one offered,
    // as the hook's default does.
    if (!mayPark()) return refuse(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE);
    const uint32_t id = park(wsi);
    resumeSoon_.push_back(id);
    reactor_.needLwsTurn();
    return LWS_HTTP_CONFIRM_UPGRADE_DEFER;
  }
  if (!mayPark()) return refuse(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE);
  // Garbage lws would refuse on resume anyway is not worth a trip to JS.
  char conn[128];
  if (lws_hdr_copy(wsi, conn, sizeof conn, WSI_TOKEN_CONNECTION) <= 0 ||
      !lws_hdr_total_length(wsi, WSI_TOKEN_KEY) || !lws_hdr_total_length(wsi, WSI_TOKEN_HOST))
    return refuse(wsi, HTTP_STATUS_BAD_REQUEST);
  size_t headerBytes = 0;
  std::string request = encodeUpgradeRequest(wsi, headerBytes);
  if (headerBytes > options_->maxHeaderSize) return refuse(wsi, 431);
  const uint32_t id = park(wsi);
  announcePeer(wsi, id, true);
  reactor_.events().pushCopy(EventType::Upgrade, id, options_->id, request.data(), request.size());
  // Adopted from a Node server: JS hands the hook the request it kept for this handover.
  if (options_->attached) reactor_.events().records.back().b = attachIds_.id(lws_get_socket_fd(wsi));
  return LWS_HTTP_CONFIRM_UPGRADE_DEFER;  // lws parks the wsi (our patch 0100)
}

bool Server::mayPark() const {
  // A parked handshake keeps one of the context's header buffers, which every server of the
  // reactor shares: besides this server's own limit, the reactor's keeps some free for
  // handshakes that are answered at once (and for other servers' ones).
  return pending_.size() < options_->maxPendingUpgrades && reactor_.parkedHandshakes() < Reactor::kMaxParkedHandshakes;
}

uint32_t Server::park(lws* wsi) {
  const uint32_t id = nextUpgradeId_++;
  if (nextUpgradeId_ == 0) nextUpgradeId_ = 1;  // 0 means "no hook" in Open events
  auto pending = std::make_unique<PendingUpgrade>(*this, wsi, id, reactor_.parkedHandshakes());
  pending->armTimeout(reactor_.context(), options_->upgradeTimeoutMs);
  byWsi_[wsi] = pending.get();
  pending_[id] = std::move(pending);
  return id;
}

void Server::resumeParked() {
  if (resumeSoon_.empty()) return;
  std::vector<uint32_t> ids;
  ids.swap(resumeSoon_);
  for (uint32_t id : ids) {
    auto it = pending_.find(id);
    if (it == pending_.end()) continue;
    char offered[256];
    const int n = lws_hdr_copy(it->second->wsi(), offered, sizeof offered, WSI_TOKEN_PROTOCOL);
    std::string first(offered, n > 0 ? static_cast<size_t>(n) : 0);
    first = first.substr(0, first.find(','));
    const size_t begin = first.find_first_not_of(" \t");
    const size_t end = first.find_last_not_of(" \t");
    first = begin == std::string::npos ? std::string() : first.substr(begin, end - begin + 1);
    acceptUpgrade(id, first, std::string());
  }
}

bool Server::acceptsUpgrade(lws* wsi) {
  // Checked again here: a hook's decision may come after the server began closing or filled up.
  if (stopping_) {
    stats().add(ServerStats::Rejected, 1);
    return false;
  }
  if (const unsigned status = upgradeRequestError(wsi)) {
    stats().add(ServerStats::Rejected, 1);
    refuseUpgrade(wsi, status);
    return false;
  }
  if (options_->maxConnections && connections_.size() >= options_->maxConnections) {
    stats().add(ServerStats::Rejected, 1);
    lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, nullptr);
    return false;
  }
  if (addressLimits_.enabled()) {
    char addr[64] = "";
    lws_get_peer_simple(wsi, addr, sizeof addr);
    if (!addressLimits_.mayConnect(addr)) {
      stats().add(ServerStats::Rejected, 1);
      lws_return_http_status(wsi, 429, nullptr);
      return false;
    }
  }
  return true;
}

void Server::acceptUpgrade(uint32_t id, const std::string& protocol, std::string headers) {
  auto it = pending_.find(id);
  if (it == pending_.end() || it->second->rejecting()) {
    if (!options_->upgradeHook) return;  // parked natively: JS kept nothing
    acceptedButGone(id);  // timed out or client gone meanwhile
    return;
  }
  PendingUpgrade& pending = *it->second;
  lws* wsi = pending.wsi();
  pending.setHeaders(std::move(headers));
  pending.setProtocol(protocol);
  // ESTABLISHED (and ADD_HEADERS) run inside; they still find the entry through the wsi.
  const int failed = peerGone(wsi) || lws_ws_upgrade_resume(wsi, protocol.c_str());
  forget(id);
  if (failed) {
    stats().add(ServerStats::Rejected, 1);
    if (options_->upgradeHook) acceptedButGone(id);
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);  // not our callback: close on lws's next turn
  }
  reactor_.needLwsTurn();  // bytes that followed the request wait in the wsi's buflist
  maybeFinishStop();
}

void Server::rejectUpgrade(uint32_t id, std::string response) {
  auto it = pending_.find(id);
  if (it == pending_.end() || it->second->rejecting()) return;
  stats().add(ServerStats::Rejected, 1);
  it->second->reject(std::move(response));
  reactor_.needLwsTurn();
}

void Server::onUpgradeTimeout(PendingUpgrade& pending) {
  // 503, not 504: the hook is this server's own code, not an upstream behind a gateway; like
  // the other limits (maxPendingUpgrades, maxConnections) it says "busy, try again later".
  stats().add(ServerStats::Rejected, 1);
  pending.reject(plainResponse(HTTP_STATUS_SERVICE_UNAVAILABLE, "Service Unavailable"));
}

void Server::onUpgradeGone(PendingUpgrade& pending) {
  forget(pending.id());
  maybeFinishStop();
}

void Server::forget(uint32_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  byWsi_.erase(it->second->wsi());
  pending_.erase(it);
}

void Server::acceptedButGone(uint32_t id) {
  reactor_.events().push(EventType::UpgradeGone, id, options_->id);
}

void Server::maybeFinishStop() {
  if (stopping_ && connections_.empty() && pending_.empty()) reactor_.deferDestroy(*this);
}

bool Server::configureTls(SSL_CTX* ctx) {
  return tlsCerts_.configure(ctx, options_->tlsChain, options_->tlsSni, options_->tlsPolicy, tlsError_);
}

void Server::setTls(uint32_t seq, const ServerOptions& tls) {
  std::string error;
  if (options_->tlsCert.empty()) {
    error = "ERR_TLS_CERT the server does not serve TLS";
  } else if (tlsCerts_.replace({std::string(), tls.tlsCert + tls.tlsChain, tls.tlsKey}, tls.tlsSni, tls.tlsPolicy, error)) {
    options_->tlsPolicy = tls.tlsPolicy;  // announcePeer follows the new requestCert
  }
  if (reactor_.events().pushCopy(EventType::TlsApplied, 0, options_->id, error.data(), error.size()))
    reactor_.events().records.back().b = seq;
}

void Server::announcePeer(lws* wsi, uint32_t id, bool forUpgrade) {
  if (!options_->tlsPolicy.requestCert) return;
  const std::string record = peerCertificateRecord(lws_get_ssl(wsi));
  if (record.empty()) return;  // no certificate (allowed with rejectUnauthorized: false)
  if (reactor_.events().pushCopy(EventType::PeerCert, id, options_->id, record.data(), record.size()))
    reactor_.events().records.back().b = forUpgrade ? 1 : 0;
}

int Server::negotiateDeflate(lws_ext_negotiation& neg) {
  if (!options_->perMessageDeflate || !neg.name || std::strcmp(neg.name, "permessage-deflate") != 0) return 0;
  PmdAgreement agreed;
  if (!neg.offers || !choosePmdOffer(neg.offers, agreed) || agreed.response.size() >= sizeof neg.response) return 0;
  std::memcpy(neg.response, agreed.response.c_str(), agreed.response.size() + 1);
  // lws's inflater needs no parameter: it keeps a 15-bit window (our patch 0500), which
  // inflates any client's messages, with or without its context takeover.
  return agreed.serverWindowBits;
}

Deflater* Server::deflater(int windowBits) {
  if (!options_->perMessageDeflate || windowBits < 9 || windowBits > 15) return nullptr;
  std::unique_ptr<Deflater>& d = deflaters_[windowBits];
  if (!d) d = std::make_unique<Deflater>(options_->deflateLevel, windowBits);
  return d.get();
}

int Server::onHttpRequest(lws* wsi) {
  // A plain HTTP request. With an `http` handler JS answers it (parked like an upgrade: the
  // answer is written from HTTP_WRITEABLE, then the connection closes); else a WebSocket path
  // says how to talk to it (426) and any other is not here (404).
  if (stopping_) return answerPlainHttp(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "Service Unavailable", "");
  if (options_->httpHook && !options_->attached) {
    if (pending_.size() >= options_->maxPendingUpgrades)
      return answerPlainHttp(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "Service Unavailable", "");
    size_t headerBytes = 0;
    std::string request = encodeUpgradeRequest(wsi, headerBytes);
    if (headerBytes > options_->maxHeaderSize) return answerPlainHttp(wsi, 431, "Request Header Fields Too Large", "");
    lws_rx_flow_control(wsi, 0);  // a body or a pipelined request waits; we close after answering
    const uint32_t id = park(wsi);
    reactor_.events().pushCopy(EventType::HttpRequest, id, options_->id, request.data(), request.size());
    return 0;
  }
  if (!pathAllowed(wsi)) return answerPlainHttp(wsi, HTTP_STATUS_NOT_FOUND, "Not Found", "");
  return answerPlainHttp(wsi, 426, "Upgrade Required", "upgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-version: 13\r\n");
}

void Server::adopt(int fd, const std::string& preamble, uint32_t attachId, std::string peer) {
  if (stopping_ || !vhost_ || !options_->attached) {
    close(fd);  // closed meanwhile: the client sees the connection end
    return;
  }
  attachIds_.note(fd, attachId, std::move(peer));
  if (!adoptSocket(vhost_, fd, preamble)) attachIds_.forget(fd);
  reactor_.needLwsTurn();
}

void Server::peerAddress(lws* wsi, char* buf, size_t len) const {
  const std::string* peer = options_->attached ? attachIds_.peer(lws_get_socket_fd(wsi)) : nullptr;
  if (!peer) {
    lws_get_peer_simple(wsi, buf, len);
    return;
  }
  const size_t n = std::min(len - 1, peer->size());
  std::memcpy(buf, peer->data(), n);
  buf[n] = '\0';
}

int Server::onEstablished(lws* wsi, Connection** pss, int deflateWindow) {
  char addr[64] = "";
  peerAddress(wsi, addr, sizeof addr);
  // "address\nsubprotocol\nurl", then a line per captureHeaders name ("=value" or empty
  // when absent). The header table is still attached here; nothing is read unless asked.
  std::string opened(addr);
  PendingUpgrade* pending = pendingOf(wsi);
  opened += '\n';
  if (pending) opened += pending->protocol();
  opened += '\n';
  opened += requestTarget(wsi);
  if (!options_->captureHeaders.empty()) appendCapturedHeaders(opened, wsi, options_->captureHeaders);
  // Resumed from the hook: JS pairs the socket with what its decision kept (ws.data).
  const uint32_t upgradeId = pending ? pending->id() : 0;
  // Accepted with a window we can compress with (not 8): our frames go out compressed.
  Deflater* d = deflateWindow ? deflater(deflateWindow) : nullptr;
  return reactor_.establish(wsi, pss, options_->id, upgradeId, opened, this, options_->limits, stats(), d) ? 0 : -1;
}

void Server::onConnectionOpened(Connection& conn) {
  conn.setServerIndex(static_cast<uint32_t>(connections_.size()));
  connections_.push_back(&conn);
  if (addressLimits_.enabled()) {
    char addr[64] = "";
    lws_get_peer_simple(conn.wsi(), addr, sizeof addr);
    addressLimits_.connected(addr);
    addressOf_.emplace(&conn, addr);
  }
  stats().add(ServerStats::Connections, 1);
  stats().add(ServerStats::ConnectionsTotal, 1);
}

void Server::onConnectionClosed(Connection& conn) {
  for (Topic* topic : conn.topics()) leave(conn, *topic);
  const uint32_t index = conn.serverIndex();
  if (index < connections_.size() && connections_[index] == &conn) {
    connections_[index] = connections_.back();
    connections_[index]->setServerIndex(index);
    connections_.pop_back();
  }
  if (auto it = addressOf_.find(&conn); it != addressOf_.end()) {
    addressLimits_.disconnected(it->second);
    addressOf_.erase(it);
  }
  stats().add(ServerStats::Connections, -1);
  maybeFinishStop();
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;
  // Handshakes still waiting for the hook are refused; their closes end the stop like connections'.
  for (auto& entry : pending_) {
    if (entry.second->rejecting()) continue;
    stats().add(ServerStats::Rejected, 1);
    entry.second->reject(plainResponse(HTTP_STATUS_SERVICE_UNAVAILABLE, "Service Unavailable"));
  }
  if (!pending_.empty()) reactor_.needLwsTurn();
  if (connections_.empty() && pending_.empty()) {
    reactor_.deferDestroy(*this);
    return;
  }
  for (Connection* conn : connections_) conn->close(LWS_CLOSE_STATUS_GOINGAWAY, "server closing");
  deadline_.schedule(reactor_.context(), &Server::onDeadline,
                     static_cast<lws_usec_t>(options_->limits.closeTimeoutMs) * LWS_US_PER_MS);
}

void Server::onDeadline(lws_sorted_usec_list_t* sul) {
  Server* self = SulTimer<Server>::ownerOf(sul);
  // Connections that did not finish their closing handshake in time die with the vhost.
  self->reactor_.deferDestroy(*self);
}

void Server::destroyVhost() {
  if (!vhost_ || destroyRequested_) return;
  destroyRequested_ = true;
  deadline_.cancel();
  lws_vhost_destroy(vhost_);  // PROTOCOL_DESTROY follows, now or once its last wsi is gone
}

void Server::onVhostDestroyed() {
  deadline_.cancel();  // the context, and its timer lists, may go away next
  byWsi_.clear();                  // (their wsis are gone with the vhost; this cancels their timers)
  pending_.clear();
  vhost_ = nullptr;
  reactor_.onServerGone(*this);
}


void Server::subscribe(Connection& conn, const std::string& name) {
  std::unique_ptr<Topic>& slot = topics_[name];
  if (!slot) slot = std::make_unique<Topic>(name);
  if (conn.isSubscribed(*slot)) return;
  conn.joined(*slot, slot->add(&conn));
}

void Server::unsubscribe(Connection& conn, const std::string& name) {
  auto it = topics_.find(name);
  if (it != topics_.end()) leave(conn, *it->second);
}

void Server::leave(Connection& conn, Topic& topic) {
  const int64_t index = conn.left(topic);
  if (index < 0) return;
  if (Connection* moved = topic.removeAt(static_cast<uint32_t>(index))) moved->moved(topic, static_cast<uint32_t>(index));
  if (topic.empty()) {
    const std::string name = topic.name();  // erase() destroys the topic that owns the key
    topics_.erase(name);
  }
}

void Server::publish(const std::string& name, const FrameRef& frame, Connection* exclude, bool countedByJs) {
  auto it = topics_.find(name);
  if (it == topics_.end()) return;
  fanOut(it->second->subscribers(), frame, exclude, countedByJs);
}

void Server::broadcast(const FrameRef& frame) { fanOut(connections_, frame, nullptr, false); }

void Server::fanOut(const std::vector<Connection*>& to, const FrameRef& frame, Connection* exclude, bool countedByJs) {
  ServerStats& s = stats();
  if (!countedByJs) {
    // Before any receiver's counter grows: JS bounds what its sockets may hold by this total
    // (lib/topic-account.ts), so it must never lag behind a counter it could read.
    s.add(ServerStats::NativeCounted, static_cast<double>(frame->accountLength()));
    std::atomic_thread_fence(std::memory_order_release);
  }
  size_t queued = 0;  // one stats update per fan-out, not per receiver
  for (Connection* conn : to)
    if (conn != exclude) queued += conn->deliver(frame, countedByJs);
  if (queued) s.add(ServerStats::QueuedBytes, static_cast<double>(queued));
}

bool Server::checkIdle(uint64_t nowMs, const FrameRef& ping) {
  if (addressLimits_.enabled()) addressLimits_.sweep(nowMs);
  const uint64_t idleMs = options_->idleTimeoutMs;
  if (idleMs == 0) return false;
  bool killed = false;
  for (Connection* conn : connections_) killed |= conn->checkIdle(nowMs, idleMs, options_->sendPings, ping);
  return killed;
}

}  // namespace lwsnode
