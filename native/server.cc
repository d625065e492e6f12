#include "server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "connection.h"
#include "reactor.h"
#include "topic.h"
#include "upgrade_request.h"

namespace lwsnode {

namespace {

// lws reports a failed bind only as "failed" (and for a numeric address that is not local, it
// retries forever). Binding a throwaway socket the way lws will (SO_REUSEADDR, v6-only for
// IPv6) first tells us the errno, so createServer rejects with the code Node users know.
// Returns 0 when the address looks bindable.
int probeBind(const std::string& host, int port) {
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
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  const int rc = bind(fd, reinterpret_cast<sockaddr*>(&ss), len);
  const int err = rc == 0 ? 0 : errno;
  close(fd);
  return err;
}

// No lws validity timers (our idle policy is Reactor::onIdleTick): without a policy lws would
// apply its default (ping at 300 s) and keep a timer per connection in one linearly sorted
// list, which made every accept walk all the open connections.
const lws_retry_bo_t kNoValidityTimers{};

const char* errnoCode(int err) {
  switch (err) {
    case EADDRINUSE: return "EADDRINUSE";
    case EACCES: return "EACCES";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EINVAL: return "EINVAL";
    default: return "ELISTEN";
  }
}

}  // namespace

Server::Server(Reactor& reactor, std::unique_ptr<ServerOptions> options)
    : reactor_(reactor), options_(std::move(options)), vhostName_("lwsnode-" + std::to_string(options_->id)) {}

Server::~Server() = default;

bool Server::listen(std::string& error) {
  const std::string where = (options_->host.empty() ? std::string("0.0.0.0") : options_->host) + ":" +
                            std::to_string(options_->port);
  // Also for port 0: lws 4.3.5 retries a failed bind to a numeric address forever.
  if (const int err = probeBind(options_->host, options_->port)) {
    error = std::string(errnoCode(err)) + " listen " + errnoCode(err) + ": " + std::strerror(err) + " " + where;
    return false;
  }
  lws_context_creation_info info{};
  info.port = options_->port;
  info.iface = options_->host.empty() ? nullptr : options_->host.c_str();
  info.protocols = Reactor::protocols();
  info.vhost_name = vhostName_.c_str();
  info.user = this;
  info.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;  // UTF-8: see Connection::onReceive
  info.retry_and_idle_policy = &kNoValidityTimers;
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
    error = options_->tlsCert.empty() ? "ELISTEN listen ELISTEN: could not listen on " + where
                                      : "ETLS listen ETLS: the TLS certificate or key was refused on " + where;
    return false;
  }
  port_ = lws_get_vhost_listen_port(vhost_);
  return true;
}

bool Server::acceptsUpgrade(lws* wsi) {
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
  if (options_->path.empty()) return true;
  char uri[1024];
  const int n = lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
  if (n < 0) return false;
  const char* query = std::strchr(uri, '?');
  const size_t pathLen = query ? static_cast<size_t>(query - uri) : static_cast<size_t>(n);
  if (pathLen == options_->path.size() && std::memcmp(uri, options_->path.data(), pathLen) == 0) return true;
  stats().add(ServerStats::Rejected, 1);
  lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, nullptr);
  return false;
}

int Server::onHttpRequest(lws* wsi) {
  // A plain HTTP request: this server only speaks WebSocket.
  const unsigned status = stopping_ ? HTTP_STATUS_SERVICE_UNAVAILABLE : 426;  // Upgrade Required
  if (lws_return_http_status(wsi, status, nullptr)) return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void Server::onConnectionOpened(Connection& conn) {
  connections_.insert(&conn);
  stats().add(ServerStats::Connections, 1);
  stats().add(ServerStats::ConnectionsTotal, 1);
}

void Server::onConnectionClosed(Connection& conn) {
  for (Topic* topic : conn.topics()) leave(conn, *topic);
  connections_.erase(&conn);
  stats().add(ServerStats::Connections, -1);
  if (stopping_ && connections_.empty()) reactor_.deferDestroy(*this);
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;
  if (connections_.empty()) {
    reactor_.deferDestroy(*this);
    return;
  }
  for (Connection* conn : connections_) conn->close(LWS_CLOSE_STATUS_GOINGAWAY, "server closing");
  lws_sul_schedule(reactor_.context(), 0, &deadline_.sul, &Server::onDeadline,
                   static_cast<lws_usec_t>(options_->closeTimeoutMs) * LWS_US_PER_MS);
}

void Server::onDeadline(lws_sorted_usec_list_t* sul) {
  Server* self = reinterpret_cast<Deadline*>(sul)->owner;
  // Connections that did not finish their closing handshake in time die with the vhost.
  self->reactor_.deferDestroy(*self);
}

void Server::destroyVhost() {
  if (!vhost_ || destroyRequested_) return;
  destroyRequested_ = true;
  lws_sul_cancel(&deadline_.sul);
  lws_vhost_destroy(vhost_);  // PROTOCOL_DESTROY follows, now or once its last wsi is gone
}

void Server::onVhostDestroyed() {
  lws_sul_cancel(&deadline_.sul);  // the context, and its timer lists, may go away next
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

void Server::publish(const std::string& name, const FrameRef& frame, Connection* exclude) {
  auto it = topics_.find(name);
  if (it == topics_.end()) return;
  for (Connection* conn : it->second->subscribers())
    if (conn != exclude) conn->deliver(frame);
}

void Server::broadcast(const FrameRef& frame) {
  for (Connection* conn : connections_) conn->deliver(frame);
}

bool Server::checkIdle(uint64_t nowMs, const FrameRef& ping) {
  const uint64_t idleMs = static_cast<uint64_t>(options_->idleTimeoutSecs) * 1000;
  if (idleMs == 0) return false;
  bool killed = false;
  for (Connection* conn : connections_) killed |= conn->checkIdle(nowMs, idleMs, options_->sendPings, ping);
  return killed;
}

}  // namespace lwsnode
