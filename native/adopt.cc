#include "adopt.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lwsnode {

int dupForAdoption(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 0); }

bool makeSocketPair(int fds[2]) {
  return socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0;
}

bool adoptSocket(lws_vhost* vhost, int fd, const std::string& preamble) {
  // lws takes the fd in every case: on failure it closes it.
  return lws_adopt_socket_vhost_readbuf(vhost, fd, preamble.data(), preamble.size()) != nullptr;
}

int answerPlainHttp(lws* wsi, unsigned status, const char* reason, const std::string& extraHeaders) {
  const std::string body = std::string(reason) + "\n";
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                     "\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: " +
                     std::to_string(body.size()) + "\r\n" + extraHeaders + "\r\n";
  std::string out(LWS_PRE, '\0');
  out += head;
  out += body;
  const size_t len = out.size() - LWS_PRE;
  // One small write: what the socket does not take, lws keeps and flushes before going on.
  if (lws_write(wsi, reinterpret_cast<unsigned char*>(&out[LWS_PRE]), len, LWS_WRITE_HTTP_FINAL) < 0) return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int probeUnixPath(const std::string& path) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof addr.sun_path) return ENAMETOOLONG;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  // Someone answers: the path is in use (lws would unlink it and steal it).
  const int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  close(fd);
  return rc == 0 ? EADDRINUSE : 0;
}

}  // namespace lwsnode
