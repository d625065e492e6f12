#include "upgrade.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "server.h"

namespace lwsnode {

PendingUpgrade::PendingUpgrade(Server& server, lws* wsi, uint32_t id, size_t& parked)
    : server_(server), parked_(parked), wsi_(wsi), id_(id) {
  ++parked_;
}

PendingUpgrade::~PendingUpgrade() {
  timer_.cancel();
  --parked_;
}

void PendingUpgrade::armTimeout(lws_context* cx, uint32_t ms) {
  timer_.schedule(cx, &PendingUpgrade::onTimeout, static_cast<lws_usec_t>(ms) * LWS_US_PER_MS);
  // lws cleared the wsi's own timeout before CONFIRM_UPGRADE; a backstop in case ours never runs.
  lws_set_timeout(wsi_, PENDING_TIMEOUT_USER_OK, static_cast<int>(ms / 1000 + kBackstopSecs));
}

void PendingUpgrade::onTimeout(lws_sorted_usec_list_t* sul) {
  PendingUpgrade* self = SulTimer<PendingUpgrade>::ownerOf(sul);
  self->server_.onUpgradeTimeout(*self);
}

void PendingUpgrade::reject(std::string response) {
  timer_.cancel();
  lws_set_timeout(wsi_, PENDING_TIMEOUT_USER_OK, kBackstopSecs);  // a peer that never lets us write
  response_.assign(LWS_PRE, 0);
  response_.insert(response_.end(), response.begin(), response.end());
  // lws ignores POLLOUT on a wsi whose reads are stopped, so they resume; what arrives until
  // the response is written stays unread (the connection closes after it).
  lws_rx_flow_control(wsi_, 1);
  lws_callback_on_writable(wsi_);
}

int PendingUpgrade::writeResponse() {
  const size_t len = response_.size() - LWS_PRE;
  // A whole small response: lws keeps what the socket does not take and flushes it before
  // the close our -1 asks for.
  lws_write(wsi_, response_.data() + LWS_PRE, len, LWS_WRITE_HTTP_HEADERS);
  return -1;
}

bool PendingUpgrade::addHeaders(lws_process_html_args& args) const {
  if (headers_.empty()) return true;
  if (static_cast<size_t>(args.max_len) <= headers_.size()) return false;
  std::memcpy(args.p, headers_.data(), headers_.size());
  args.p += headers_.size();
  args.max_len -= static_cast<int>(headers_.size());
  return true;
}

namespace {

void appendString(std::string& out, const char* s, size_t len) {
  const uint32_t n = static_cast<uint32_t>(len);
  const char le[4] = {static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff), static_cast<char>((n >> 16) & 0xff),
                      static_cast<char>((n >> 24) & 0xff)};
  out.append(le, 4);
  out.append(s, len);
}

// Room for one header value: on the stack for the usual short ones.
class ValueBuffer {
 public:
  char* reserve(size_t n) {
    if (n <= sizeof small_) return small_;
    large_.resize(n);
    return &large_[0];
  }

 private:
  char small_[256];
  std::string large_;
};

// Calls fn(name, nameLen, value, valueLen) for every request header lws stored: the ones it
// knows by token, then the others ("custom"). Names are lws's (lower case, no colon).
// A template, not std::function: it runs for every handshake (connection storm).
template <typename Fn>
void forEachHeader(lws* wsi, const Fn& fn) {
  ValueBuffer buf;
  for (int t = 0; t < WSI_TOKEN_COUNT; ++t) {
    const auto token = static_cast<lws_token_indexes>(t);
    // Most of lws's hundred tokens are absent: their length is asked before their name.
    const int len = lws_hdr_total_length(wsi, token);
    if (len <= 0) continue;
    const auto* name = reinterpret_cast<const char*>(lws_token_to_string(token));
    if (!name) continue;
    const size_t nameLen = std::strlen(name);
    // Request-line tokens ("get ", ...) and HTTP/2 pseudo headers are not headers.
    if (nameLen < 2 || name[nameLen - 1] != ':' || name[0] == ':') continue;
    char* value = buf.reserve(static_cast<size_t>(len) + 1);
    const int got = lws_hdr_copy(wsi, value, len + 1, token);
    if (got < 0) continue;
    fn(name, nameLen - 1, value, static_cast<size_t>(got));
  }
  struct Ctx {
    lws* wsi;
    const Fn* fn;
    ValueBuffer* buf;
  } ctx{wsi, &fn, &buf};
  lws_hdr_custom_name_foreach(
      wsi,
      [](const char* name, int nlen, void* opaque) {
        auto* c = static_cast<Ctx*>(opaque);
        const int len = lws_hdr_custom_length(c->wsi, name, nlen);
        if (len < 0) return;
        char* value = c->buf->reserve(static_cast<size_t>(len) + 1);
        const int got = lws_hdr_custom_copy(c->wsi, value, len + 1, name, nlen);
        if (got < 0) return;
        size_t n = static_cast<size_t>(nlen);
        if (n && name[n - 1] == ':') --n;  // lws keeps the colon
        (*c->fn)(name, n, value, static_cast<size_t>(got));
      },
      &ctx);
}

}  // namespace

RequestHeaderScan scanRequestHeaders(lws* wsi) {
  RequestHeaderScan scan;
  // The request target counts too: a 10 KiB URL is as much a header-size attack as a header.
  scan.bytes = static_cast<size_t>(std::max(0, lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))) +
               static_cast<size_t>(std::max(0, lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS)));
  // lws stores a NUL inside a value and copies values with strncpy, which zero-fills from the
  // first NUL on: a NUL anywhere leaves a zero byte within the copied length.
  forEachHeader(wsi, [&](const char*, size_t nameLen, const char* value, size_t valueLen) {
    scan.bytes += nameLen + valueLen;
    scan.hasNul = scan.hasNul || std::memchr(value, 0, valueLen) != nullptr;
  });
  return scan;
}

std::string requestTarget(lws* wsi) {
  char* uri = nullptr;
  int uriLen = 0;
  if (lws_http_get_uri_and_method(wsi, &uri, &uriLen) < 0) uri = nullptr;  // not a request lws knows
  // lws stores the query apart from the path, one fragment per argument.
  std::string url(uri ? uri : "", uri ? static_cast<size_t>(uriLen) : 0);
  const int argsLen = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
  if (argsLen > 0) {
    std::string args(static_cast<size_t>(argsLen) + 1, '\0');
    const int got = lws_hdr_copy(wsi, &args[0], argsLen + 1, WSI_TOKEN_HTTP_URI_ARGS);
    if (got > 0) url += "?" + args.substr(0, static_cast<size_t>(got));
  }
  return url;
}

void appendCapturedHeaders(std::string& out, lws* wsi, const std::vector<std::string>& names) {
  std::vector<const std::string*> found(names.size(), nullptr);
  std::vector<std::string> values(names.size());
  forEachHeader(wsi, [&](const char* name, size_t nameLen, const char* value, size_t valueLen) {
    for (size_t i = 0; i < names.size(); ++i) {
      if (found[i] || names[i].size() != nameLen || names[i].compare(0, nameLen, name, nameLen) != 0) continue;
      values[i].assign(value, valueLen);
      found[i] = &values[i];
    }
  });
  for (const std::string* value : found) {
    out += '\n';
    if (value) (out += '=') += *value;
  }
}

std::string encodeUpgradeRequest(lws* wsi, size_t& headerBytes) {
  std::string out;
  char* uri = nullptr;
  int uriLen = 0;
  const int method = lws_http_get_uri_and_method(wsi, &uri, &uriLen);
  static const char* const kMethods[] = {"GET", "POST", "OPTIONS", "PUT", "PATCH", "DELETE", "CONNECT", "HEAD"};
  const char* m = method >= 0 && method < 8 ? kMethods[method] : "GET";
  appendString(out, m, std::strlen(m));
  const std::string url = requestTarget(wsi);
  appendString(out, url.data(), url.size());
  char addr[64] = "";
  lws_get_peer_simple(wsi, addr, sizeof addr);
  appendString(out, addr, std::strlen(addr));
  headerBytes = 0;
  forEachHeader(wsi, [&](const char* name, size_t nameLen, const char* value, size_t valueLen) {
    headerBytes += nameLen + valueLen;
    appendString(out, name, nameLen);
    appendString(out, value, valueLen);
  });
  return out;
}

bool peerGone(lws* wsi) {
  const lws_sockfd_type fd = lws_get_socket_fd(wsi);
  if (fd < 0) return true;
  char byte;
  const ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

std::string plainResponse(unsigned status, const char* reason) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
}

}  // namespace lwsnode
