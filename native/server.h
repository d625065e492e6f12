// One listening server: an lws vhost on the reactor's context, and the connections it
// accepted. I/O thread only.
//
// Graceful stop: refuse new upgrades, ask every connection to close with 1001 after its
// queued data, and destroy the vhost (closing the listener) when the last one is gone or the
// deadline passes, whichever is first. The vhost's PROTOCOL_DESTROY ends the server.
#pragma once

#include <libwebsockets.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "address_limits.h"
#include "adopt.h"
#include "command.h"
#include "deflater.h"
#include "sul_timer.h"
#include "tls_certs.h"
#include "topic.h"
#include "upgrade.h"

namespace lwsnode {

class Connection;
class Reactor;

class Server {
 public:
  Server(Reactor& reactor, std::unique_ptr<ServerOptions> options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const ServerOptions& options() const { return *options_; }
  ServerStats& stats() { return *options_->stats; }
  uint32_t id() const { return options_->id; }
  int port() const { return port_; }
  // Compresses outgoing messages for connections that negotiated permessage-deflate; null
  // when the server does not offer it.
  // The compressor for a peer that accepted `windowBits` (9..15), made on first use; null
  // without perMessageDeflate.
  Deflater* deflater(int windowBits);

  // Creates the vhost. On failure fills `error` with "CODE message" and returns false.
  bool listen(std::string& error);
  void stop();
  void destroyVhost();  // outside any lws callback of this vhost

  // lws callbacks routed here.
  // HTTP_CONFIRM_UPGRADE: limits and path; with a JS hook, parks the handshake for JS.
  int onConfirmUpgrade(lws* wsi);
  bool acceptsUpgrade(lws* wsi);
  // lws made the vhost's TLS context (leaf and key loaded): add the chain, SNI names, policy.
  bool configureTls(SSL_CTX* ctx);
  // setTls(): new certificates and policy for the next handshakes; a TlsApplied event answers.
  void setTls(uint32_t seq, const ServerOptions& tls);
  // With requestCert: a PeerCert event for the Open (`forUpgrade` false: `id` is the slot)
  // or Upgrade (`id` is the upgrade id) event the caller pushes next.
  void announcePeer(lws* wsi, uint32_t id, bool forUpgrade);
  // Whether to enable permessage-deflate with the client's first offer (`in` names it).
  bool acceptsDeflate(lws* wsi, const char* extension);
  // LWS_CALLBACK_NEGOTIATE_EXTENSIONS (our lws patch 0500): picks the client's first valid
  // permessage-deflate offer and fills lws's response; returns the window bits we compress
  // with (8: none), or 0 when no offer is accepted.
  int negotiateDeflate(lws_ext_negotiation& neg);
  int onHttpRequest(lws* wsi);
  // A socket handed over by a Node HTTP server (adopt.h); `fd` is ours from now on.
  // `peer` is the client's address when lws would not see it (a socketpair), else empty.
  void adopt(int fd, const std::string& preamble, uint32_t attachId, std::string peer);
  // The client's address as JS should see it.
  void peerAddress(lws* wsi, char* buf, size_t len) const;
  // ESTABLISHED: the Open event and the Connection `*pss` owns (see Reactor::establish);
  // `deflateWindow` is the window negotiateDeflate chose (8 or 0: none). -1 refuses it.
  int onEstablished(lws* wsi, Connection** pss, int deflateWindow);
  void onConnectionOpened(Connection& conn);
  void onConnectionClosed(Connection& conn);
  void onVhostDestroyed();

  // Pub/sub: one frame, shared by every receiver.
  void subscribe(Connection& conn, const std::string& topic);
  void unsubscribe(Connection& conn, const std::string& topic);
  // `countedByJs`: JS counted it in every receiver's bufferedAmount when it published (the
  // server's own thread); else each receiver's counter counts it here (another thread's).
  void publish(const std::string& topic, const FrameRef& frame, Connection* exclude, bool countedByJs);
  void broadcast(const FrameRef& frame);

  // Upgrade hook (see upgrade.h). `id` names the parked handshake in events and commands.
  void acceptUpgrade(uint32_t id, const std::string& protocol, std::string headers);
  void rejectUpgrade(uint32_t id, std::string response);
  // Without a hook, handshakes offering subprotocols are parked and resumed here, outside the
  // lws callback that parked them (Reactor::onPrepare, same loop turn).
  void resumeParked();
  void onUpgradeTimeout(PendingUpgrade& pending);
  void onUpgradeGone(PendingUpgrade& pending);  // its wsi is being destroyed
  // The parked handshake on `wsi`, if any (a map, not the wsi's opaque pointer: that is free
  // for other code, and most wsis are not parked).
  PendingUpgrade* pendingOf(lws* wsi) const {
    if (byWsi_.empty()) return nullptr;
    auto it = byWsi_.find(wsi);
    return it == byWsi_.end() ? nullptr : it->second;
  }

  // The idle policy for every connection; true if any connection was killed. Also ages the
  // per-address limits.
  bool checkIdle(uint64_t nowMs, const FrameRef& ping);

 private:
  static void onDeadline(lws_sorted_usec_list_t* sul);
  void leave(Connection& conn, Topic& topic);
  // One frame to each of `to` but `exclude`; the server's stats updated once.
  void fanOut(const std::vector<Connection*>& to, const FrameRef& frame, Connection* exclude, bool countedByJs);
  bool pathAllowed(lws* wsi);
  int refuse(lws* wsi, unsigned status);  // CONFIRM_UPGRADE's "answered" return
  void acceptedButGone(uint32_t id);  // tells JS to drop what it kept for the socket
  void maybeFinishStop();

  std::unordered_map<uint32_t, std::unique_ptr<PendingUpgrade>> pending_;
  std::unordered_map<lws*, PendingUpgrade*> byWsi_;  // the same entries, by wsi
  void forget(uint32_t id);
  uint32_t park(lws* wsi);
  bool mayPark() const;  // this server's and the reactor's bound on parked handshakes
  std::vector<uint32_t> resumeSoon_;
  AttachIds attachIds_;
  uint32_t nextUpgradeId_ = 1;

  Reactor& reactor_;
  std::unique_ptr<ServerOptions> options_;
  std::unique_ptr<Deflater> deflaters_[16];  // by window bits: one per size in use
  TlsCerts tlsCerts_;
  std::string tlsError_;  // why configureTls failed, for listen's error
  lws_vhost* vhost_ = nullptr;
  std::string vhostName_;
  // Open connections; each knows its index (Connection::serverIndex), so removal swaps the
  // last one into its place: 8 bytes per connection where a hash set took about 40.
  std::vector<Connection*> connections_;
  AddressLimits addressLimits_;
  std::unordered_map<Connection*, std::string> addressOf_;  // only while addressLimits_ is enabled
  std::unordered_map<std::string, std::unique_ptr<Topic>> topics_;
  int port_ = 0;
  bool stopping_ = false;
  bool destroyRequested_ = false;
  SulTimer<Server> deadline_{{}, this};  // a graceful stop's closeTimeout
};

}  // namespace lwsnode
