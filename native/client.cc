#include "client.h"
#include "pmd_offer.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "connection.h"
#include "event_batch.h"
#include "lws_common.h"
#include "reactor.h"
#include "tls_certs.h"

namespace lwsnode {

namespace {

bool startsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

Client::Client(Reactor& reactor, std::unique_ptr<ClientOptions> options)
    : reactor_(reactor), options_(std::move(options)) {}

Client::~Client() { cancelDeadline(); }

std::string Client::vhostKey() const {
  // lws offers every extension of a vhost on each of its client connections, and takes the
  // proxy from the vhost too.
  const ClientOptions& o = *options_;
  const std::string pmd = o.perMessageDeflate ? "+pmd" : "";
  const std::string proxy = o.proxyAddress.empty() ? "" : "+proxy=" + o.proxyAddress + ":" + std::to_string(o.proxyPort);
  if (!o.tls) return "ws" + pmd + proxy;
  // Every setting the vhost's client SSL_CTX is made with (servername is per connection).
  return std::string(o.rejectUnauthorized ? "wss+verify" : "wss") + pmd + proxy + "|" + std::to_string(o.minVersion) +
         "|" + o.ciphers + "|" + o.ciphersuites + "|" + o.cert + "|" + o.key + "|" + o.ca;
}

void Client::cancelDeadline() {
  if (!deadlineArmed_) return;
  deadlineArmed_ = false;
  deadline_.cancel();
}

void Client::connect(lws_vhost* vhost) {
  if (!vhost) {
    fail("ETLS", "the TLS client context could not be created (tls.ca, tls.cert or tls.key was refused)", 0);
    return;
  }
  const ClientOptions& o = *options_;
  lws_client_connect_info info{};
  info.context = reactor_.context();
  info.vhost = vhost;
  info.address = o.address.c_str();
  info.port = o.port;
  info.path = o.path.c_str();
  // Host header, SNI and verification name (lws strips a ":port" for SNI); with `servername`
  // the latter two (see the Host header's fix-up below).
  info.host = o.servername.empty() ? o.host.c_str() : o.servername.c_str();
  info.protocol = o.protocols.empty() ? nullptr : o.protocols.c_str();
  // Bind the wsi to our protocol whatever subprotocol the server picks: lws would otherwise
  // look for a protocol of that name on the vhost and fail the handshake.
  info.local_protocol_name = Reactor::protocols()[0].name;
  info.alpn = "http/1.1";
  info.ssl_connection = LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
  if (o.tls) {
    info.ssl_connection |= LCCSCF_USE_SSL;
    if (!o.rejectUnauthorized)
      info.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                             LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
  }
  info.retry_and_idle_policy = &kNoValidityTimers;
  info.opaque_user_data = this;
  info.pwsi = &wsi_;
  info.log_cx = reactor_.logContext();
  deadlineArmed_ = true;
  deadline_.schedule(reactor_.context(), &Client::onDeadline, static_cast<lws_usec_t>(o.handshakeTimeoutMs) * LWS_US_PER_MS);
  // A failure may be reported through CLIENT_CONNECTION_ERROR inside this call already.
  lws* wsi = lws_client_connect_via_info(&info);
  if (!wsi) {
    if (!done_) fail("ECONNECT", "could not start connecting", 0);
    return;
  }
  // lws copied info.host twice: into the stash its TLS setup reads (SNI, verification) and
  // into the header table the Host line is written from. With `servername` the Host header
  // must still name the URL's host: replace the header's copy only.
  if (!o.servername.empty() && !done_ && wsi_ == wsi &&
      lws_hdr_simple_create(wsi, _WSI_TOKEN_CLIENT_HOST, o.host.c_str()) != 0 && !done_) {
    fail("ECONNECT", "the Host header did not fit", 0);
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
  }
}

void Client::onDeadline(lws_sorted_usec_list_t* sul) {
  Client* self = SulTimer<Client>::ownerOf(sul);
  self->deadlineArmed_ = false;
  if (self->done_ || !self->wsi_) return;
  if (!self->aborted_) self->timedOut_ = true;
  self->kill();
}

void Client::abort() {
  if (connection_) {
    connection_->terminate();
  } else if (!done_ && wsi_) {
    aborted_ = true;
    kill();
  }
}

void Client::kill() {
  lws_set_timeout(wsi_, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);  // CONNECTION_ERROR follows
  // lws replaces a wsi's pending timeout as its handshake moves on (e.g. once the request is
  // sent), which can cancel this kill: check again shortly until the wsi is gone.
  cancelDeadline();
  deadlineArmed_ = true;
  deadline_.schedule(reactor_.context(), &Client::onDeadline, kKillRetryUs);
}

int Client::appendHeaders(lws* wsi, unsigned char** p, size_t room) {
  unsigned char* end = *p + room;
  auto add = [&](const std::string& name, const std::string& value) {
    // lws wants the name with its colon.
    const std::string withColon = name + ":";
    return lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(withColon.c_str()),
                                       reinterpret_cast<const unsigned char*>(value.data()),
                                       static_cast<int>(value.size()), p, end) == 0;
  };
  if (!options_->origin.empty() && !add("origin", options_->origin)) return -1;
  for (const auto& header : options_->headers)
    if (!add(header.first, header.second)) return -1;
  return 0;
}

namespace {
// zlib's default: a client sends little, and what it sends is compressed once.
constexpr int kClientDeflateLevel = 6;
}  // namespace

bool Client::beforeEstablished(lws* wsi) {
  // The handshake's response headers are freed before CLIENT_ESTABLISHED: read them here.
  char buf[256];
  if (lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_PROTOCOL) > 0) protocol_ = buf;
  if (lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_EXTENSIONS) > 0) extensions_ = buf;
  // lws checks names and some values; RFC 7692 asks more of a client (duplicates, ranges, lws's
  // own non-RFC options such as rx_buf_size must not be settable by a server).
  return validPmdResponse(extensions_);
}

int Client::onEstablished(lws* wsi, void* pss) {
  // A kill we scheduled (abort, deadline) may not have run yet, and a successful handshake
  // clears pending lws timeouts: refuse here, and CONNECTION_ERROR reports why.
  if (aborted_ || timedOut_) return -1;
  if (done_ || !pss) return -1;
  done_ = true;
  cancelDeadline();
  wsi_ = wsi;
  if (const int window = pmdClientWindow(extensions_))
    deflater_ = std::make_unique<Deflater>(kClientDeflateLevel, window);
  // Open for a client: a = client id, bytes = "protocol\nextensions". Without it (out of
  // memory) JS would wait forever: refuse, and CONNECTION_ERROR/WSI_DESTROY report a failure.
  const std::string text = protocol_ + "\n" + extensions_;
  // pss: where the Connection goes (lws_router.cc makes it the wsi's user pointer).
  connection_ = reactor_.establish(wsi, static_cast<Connection**>(pss), id(), 0, text, nullptr, options_->limits,
                                   reactor_.clientStats(), deflater_.get());
  if (!connection_) {
    done_ = false;
    return -1;
  }
  return 0;
}

void Client::onConnectError(lws* wsi, const char* why, size_t len) { reportError(wsi, why, len, true); }

void Client::onTlsInfo(int where, int ret) {
  if ((where & SSL_CB_ALERT) && (where & SSL_CB_READ) && (ret >> 8) == SSL3_AL_FATAL) peerAlert_ = ret & 0xff;
}

void Client::onWsiDestroyed(lws* wsi) {
  if (wsi_ == wsi) wsi_ = nullptr;
  if (done_) return;
  static const char kWhy[] = "the connection closed during the handshake";
  reportError(wsi, kWhy, sizeof kWhy - 1, false);  // the socket is closed by now
}

void Client::reportError(lws* wsi, const char* why, size_t len, bool probeSocket) {
  if (done_) return;
  std::string reason = why ? std::string(why, strnlen(why, len)) : std::string();
  // With libuv, a refused connect surfaces as a hangup on the socket and lws reports only
  // "closed before established": the socket's pending error says what happened.
  if (probeSocket && !startsWith(reason, "conn fail: ")) {
    const lws_sockfd_type fd = wsi ? lws_get_socket_fd(wsi) : LWS_SOCK_INVALID;
    int err = 0;
    socklen_t errLen = sizeof err;
    if (fd != LWS_SOCK_INVALID && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errLen) == 0 && err != 0)
      reason = "conn fail: " + std::to_string(err);
  }
  const int status = wsi ? lws_http_client_http_response(wsi) : 0;
  if (aborted_) {
    fail("EABORTED", "the connection attempt was aborted", 0);
  } else if (timedOut_ || startsWith(reason, "Timed out")) {
    fail("ETIMEDOUT", "no WebSocket handshake within " + std::to_string(options_->handshakeTimeoutMs) + " ms", 0);
  } else if (status != 0 && status != 101) {
    fail("EHTTPSTATUS", "the server answered HTTP " + std::to_string(status) + " instead of 101", status);
  } else if (peerAlert_ >= 0) {
    // The server refused us with a TLS alert (a missing or untrusted client certificate, a
    // version or cipher it does not accept); with TLS 1.3 that comes after our handshake
    // finished, so lws saw only the connection close.
    const std::string text = describeReceivedAlert(peerAlert_);
    const size_t space = text.find(' ');
    fail(("ETLS:" + text.substr(0, space)).c_str(), text.substr(space + 1), 0);
  } else if (startsWith(reason, "conn fail: ")) {
    const int err = std::atoi(reason.c_str() + std::strlen("conn fail: "));
    const char* code = errnoCode(err, "ECONNECT");
    fail(code, std::string(code) + ": " + std::strerror(err), 0);
  } else if (reason.find("tls") != std::string::npos || reason.find("cert") != std::string::npos ||
             reason.find("SSL") != std::string::npos || reason.find("ssl") != std::string::npos) {
    // "CODE message" with Node's code (CERT_HAS_EXPIRED, ERR_SSL_..., ETLS) and no lws internals.
    const std::string text = describeClientTlsFailure(wsi ? static_cast<SSL*>(lws_get_ssl(wsi)) : nullptr, reason);
    const size_t space = text.find(' ');
    const std::string code = text.substr(0, space);
    // "ETLS:<Node's code>": JS makes it a ConnectError with reason "tls" and that code.
    fail((code == "ETLS" ? code : "ETLS:" + code).c_str(), text.substr(space + 1), 0);
  } else if (startsWith(reason, "HS:") || startsWith(reason, "ws protocol")) {
    fail("EHANDSHAKE", "the server's handshake response was refused: " + reason, 0);
  } else {
    fail("ECONNRESET", reason.empty() ? std::string("connection failed") : reason, 0);
  }
}

void Client::fail(const char* code, const std::string& message, uint32_t status) {
  done_ = true;
  cancelDeadline();
  if (wsi_) lws_set_opaque_user_data(wsi_, nullptr);  // lws may call back for this wsi later
  wsi_ = nullptr;
  const std::string text = std::string(code) + " " + message;
  // Out of memory even for this: JS is not told, but the Client still goes (nothing dangles).
  if (reactor_.events().pushCopy(EventType::ConnectError, 0, id(), text.data(), text.size()))
    reactor_.events().records.back().b = status;
  reactor_.onClientGone(*this);
}

void Client::onConnectionClosed() {
  connection_ = nullptr;
  wsi_ = nullptr;
  reactor_.onClientGone(*this);
}

}  // namespace lwsnode
