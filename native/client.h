// One outgoing connection (connect()), from the connect attempt to its close. I/O thread only.
//
// Connecting: lws_client_connect_via_info() on the client vhost for its TLS settings (created
// on first use, outside lws callbacks), with our own handshake deadline. Either the handshake
// succeeds (CLIENT_ESTABLISHED: a Connection takes over, exactly like a server's socket but
// masking what it writes) or one ConnectError event says why not. The Reactor owns the Client
// until its connection has closed or its connect failed.
#pragma once

#include <libwebsockets.h>

#include <memory>
#include <string>

#include "command.h"
#include "deflater.h"
#include "sul_timer.h"

namespace lwsnode {

class Connection;
class Reactor;

class Client {
 public:
  Client(Reactor& reactor, std::unique_ptr<ClientOptions> options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  uint32_t id() const { return options_->id; }
  const ClientOptions& options() const { return *options_; }
  // The key of the client vhost this connection needs (one per distinct TLS configuration).
  std::string vhostKey() const;

  // Starts connecting on `vhost`. A failure is reported as a ConnectError event either way.
  void connect(lws_vhost* vhost);
  // close() while connecting (JS gave up), or terminate() if already established.
  void abort();
  // The context is going away: no timer may stay scheduled on it.
  void cancelDeadline();

  // lws callbacks routed here.
  int appendHeaders(lws* wsi, unsigned char** p, size_t room);
  // Headers are still readable. False refuses the handshake (a permessage-deflate answer
  // that breaks RFC 7692).
  bool beforeEstablished(lws* wsi);
  int onEstablished(lws* wsi, void* pss);
  void onConnectError(lws* wsi, const char* why, size_t len);
  void onTlsInfo(int where, int ret);  // SSL info callback: remembers a fatal alert received
  void onConnectionClosed();  // the established connection is gone
  void onWsiDestroyed(lws* wsi);  // the last callback of our wsi

 private:
  void fail(const char* code, const std::string& message, uint32_t status);
  void reportError(lws* wsi, const char* why, size_t len, bool probeSocket);
  static void onDeadline(lws_sorted_usec_list_t* sul);

  Reactor& reactor_;
  std::unique_ptr<ClientOptions> options_;
  lws* wsi_ = nullptr;
  Connection* connection_ = nullptr;  // owned by the wsi once established
  std::string protocol_;    // chosen by the server
  std::string extensions_;  // accepted by the server
  std::unique_ptr<Deflater> deflater_;  // our sends, when permessage-deflate was accepted
  // Kills the handshaking wsi (abort, deadline), re-checking every kKillRetryUs until it is gone.
  void kill();
  static constexpr lws_usec_t kKillRetryUs = 50 * LWS_US_PER_MS;
  bool deadlineArmed_ = false;
  bool timedOut_ = false;
  bool aborted_ = false;
  bool done_ = false;  // established or failed: the outcome has been reported
  int peerAlert_ = -1;  // the fatal TLS alert the server sent, if any
  SulTimer<Client> deadline_{{}, this};  // the handshake deadline, then kill() retries
};

}  // namespace lwsnode
