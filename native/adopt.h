// Connections that did not come from our own listener: sockets handed over by a Node HTTP
// server (attach, handleUpgrade) and the plain HTTP answers of a standalone server.
//
//   JS thread: dupForAdoption(fd of Node's socket) -> Adopt command (fd + the request bytes
//     Node already read) ; Node then closes its own fd (the duplicate keeps the peer open)
//   I/O thread: Server::adopt -> lws_adopt_socket_vhost_readbuf: lws replays the bytes as if
//     it had read them, and the connection goes through the usual upgrade path
#pragma once

#include <libwebsockets.h>

#include <cstdint>
#include <string>
#include <unordered_map>

namespace lwsnode {

// ---- JS thread ----
// A close-on-exec duplicate of `fd` for the I/O thread; -1 with errno on failure.
int dupForAdoption(int fd);
// A connected pair of non-blocking Unix stream sockets (for a stream whose bytes Node must
// carry, such as an https.Server's decrypted one); false with errno on failure.
bool makeSocketPair(int fds[2]);

// ---- I/O thread ----
// Which handover each adopted socket came from, so its Upgrade event can name the Node
// request JS kept, and the peer's address when lws cannot know it (a socketpair's). Keyed by
// fd: an attached vhost's wsis all come from adoption, and an fd number is only reused after
// its wsi closed, when the next adoption overwrites the entry.
class AttachIds {
 public:
  void note(int fd, uint32_t id, std::string peer) { entries_[fd] = Entry{id, std::move(peer)}; }
  void forget(int fd) { entries_.erase(fd); }
  uint32_t id(int fd) const {
    auto it = entries_.find(fd);
    return it == entries_.end() ? 0 : it->second.id;
  }
  // The address JS gave for `fd`, or nullptr: lws's own view is right.
  const std::string* peer(int fd) const {
    auto it = entries_.find(fd);
    return it == entries_.end() || it->second.peer.empty() ? nullptr : &it->second.peer;
  }

 private:
  struct Entry {
    uint32_t id;
    std::string peer;
  };
  std::unordered_map<int, Entry> entries_;
};

// Adopts `fd` (ours from now on, closed on failure) into `vhost` as an HTTP connection whose
// first bytes are `preamble`. lws parses them at once, inside this call. False on failure.
bool adoptSocket(lws_vhost* vhost, int fd, const std::string& preamble);

// Inside LWS_CALLBACK_HTTP: a short HTTP/1.1 text/plain answer (the reason phrase as body)
// with `extraHeaders` ("Name: value\r\n"...). Returns the callback's result.
int answerPlainHttp(lws* wsi, unsigned status, const char* reason, const std::string& extraHeaders);

// 0 when nothing accepts connections on the Unix socket `path` (it may be bound), else an errno.
int probeUnixPath(const std::string& path);

}  // namespace lwsnode
