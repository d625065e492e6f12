// Commands from the JS thread to the I/O thread. They travel through CommandQueue and are
// applied on the I/O thread in the order they were issued.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "frame.h"
#include "server_stats.h"
#include "tls_certs.h"

namespace lwsnode {

struct ServerOptions {
  uint32_t id = 0;
  int port = 0;
  std::string host;  // empty: every interface
  std::vector<std::string> paths;  // empty: any path
  std::vector<std::string> captureHeaders;  // lower-case names reported with each Open; empty: none
  bool upgradeHook = false;         // JS decides every upgrade (an upgrade handler or a path function)
  uint32_t upgradeTimeoutMs = 10000;  // a hook decision not made by then is answered 503
  uint32_t maxPendingUpgrades = 64;   // handshakes waiting for the hook; more are answered 503
  uint32_t maxHeaderSize = 8192;      // request header bytes (names + values); more get 431
  size_t maxPayloadLength = 16 * 1024 * 1024;
  size_t maxBackpressure = 16 * 1024 * 1024;  // publish deliveries beyond this are dropped
  bool closeOnBackpressureLimit = false;      // ... or the slow socket is closed with 1008
  uint32_t maxConnections = 0;                // 0: unlimited; over it upgrades get 503
  uint32_t maxConnectionsPerIp = 0;           // 0: unlimited; over it upgrades get 429
  uint32_t handshakeRateLimit = 0;            // handshakes per address per second; 0: unlimited
  uint32_t idleTimeoutMs = 120000;            // 0: never; checked once a second (Reactor::kIdleTickMs)
  bool sendPings = true;                      // ping idle sockets before closing them
  uint32_t closeTimeoutMs = 5000;
  uint32_t handshakeTimeoutSecs = 10;         // a client must complete its upgrade request within this
  bool perMessageDeflate = false;             // negotiate RFC 7692 with clients that offer it
  uint32_t deflateThreshold = 1024;           // smaller messages go out uncompressed
  int deflateLevel = 6;                       // zlib level for outgoing messages
  std::string tlsCert;                        // PEM; empty: plain ws://
  std::string tlsKey;                         // PEM, unencrypted (JS decrypts it)
  std::string tlsChain;                       // PEM: intermediates sent after the leaf
  std::vector<SniIdentity> tlsSni;            // other certificates, by requested name
  TlsPolicy tlsPolicy;                        // mTLS, minimum version, ciphers
  std::shared_ptr<ServerStats> stats;         // also mapped into JS
  // Where connections come from (adopt.h): attached to a Node HTTP server (no listener; its
  // sockets are adopted), a Unix domain socket path instead of host and port, or a TCP port
  // shared with other processes (SO_REUSEPORT).
  bool attached = false;
  std::string unixPath;
  bool reusePort = false;
  bool httpHook = false;  // plain HTTP requests go to JS (an HttpRequest event, answered like a refused upgrade)
};

// One outgoing connection (connect()). The address is numeric: JS resolved the name already
// (lws's resolver would block the I/O thread); `host` is what the Host header, SNI and
// certificate verification use.
struct ClientOptions {
  uint32_t id = 0;
  std::string address;
  std::string host;
  int port = 0;
  std::string path;       // path and query
  std::string origin;     // empty: no Origin header
  std::string protocols;  // comma-separated offer; empty: none
  std::vector<std::pair<std::string, std::string>> headers;
  bool tls = false;
  std::string ca;         // PEM trust anchor; empty: the system's
  bool rejectUnauthorized = true;
  std::string cert;       // PEM client certificate (mutual TLS); empty: none
  std::string key;        // its key, PEM, unencrypted (JS decrypts it)
  std::string servername; // SNI and verification name; empty: `host` without its port
  int minVersion = TLS1_2_VERSION;
  std::string ciphers;       // TLS 1.2 list; empty: OpenSSL's
  std::string ciphersuites;  // TLS 1.3 suites; empty: OpenSSL's
  // An HTTP proxy (CONNECT tunnel), numeric address; empty: connect directly. `address` is
  // then the host name: the proxy resolves it.
  std::string proxyAddress;
  int proxyPort = 0;
  // Offer permessage-deflate: lws inflates what the server compresses; what we send is
  // compressed by our Deflater (native/client.cc: mayCompress) when the server accepts.
  bool perMessageDeflate = false;
  uint32_t handshakeTimeoutMs = 10000;
  // The per-connection limits Connection applies to servers' sockets, for this one
  // (maxPayloadLength, closeTimeoutMs; the other fields are unused).
  ServerOptions limits;
};

enum class CommandType : uint8_t {
  Send,         // slot, frame, flags
  Close,        // slot, code, text = reason
  Terminate,    // slot
  Release,      // slot: JS has seen the close, the slot may be reused
  Listen,       // server
  StopServer,   // id
  Subscribe,    // slot, text = topic
  Unsubscribe,  // slot, text = topic
  Publish,      // slot = server id, text = topic, frame; code = sender slot with kExcludeSender
  Broadcast,    // slot = server id, frame
  ResumeReads,  // JS caught up with inbound events
  SetLogLevels, // code = LLL_* mask routed to JS
  UpgradeAccept, // slot = server id, code = upgrade id, text = protocol '\n' extra header lines
  UpgradeReject, // slot = server id, code = upgrade id, text = the whole HTTP response
  Shutdown,     // destroy the reactor
  Connect,      // client
  AbortConnect, // slot = client id: give up a connect in progress (or drop the connection)
  HoldReads,    // slot, code = 1: a JS consumer is full, stop reading this socket; 0: read again
  Adopt,        // slot = server id, code = fd (now ours), flags = attach id,
                // text = peer address (or empty) '\n' the bytes already read
  SetTls,       // slot = server id, code = request seq, server = the tls* fields to apply
  EventsSeen,   // slot = batches JS has dispatched so far (wrapping): releases held closes
  SendBatch,    // text = the small sends of a JS turn, staged by JS (send_batch.h)
};

// Send flags.
constexpr uint32_t kNotifyDrain = 1;     // JS reported backpressure: tell it when the queue empties
constexpr uint32_t kExcludeSender = 2;   // publish: skip the sending socket
constexpr uint32_t kDiscardQueue = 4;    // close: drop what is queued (slow-consumer policy)
constexpr uint32_t kCompress = 8;        // send: JS allows permessage-deflate for this message
constexpr uint32_t kBinary = 16;         // a staged send (SendBatch): a binary frame, else text

struct Command {
  explicit Command(CommandType t) : type(t) {}
  CommandType type;
  uint32_t slot = 0;  // or server id
  uint32_t flags = 0;
  int32_t code = 0;
  FrameRef frame;
  std::string text;
  std::unique_ptr<ServerOptions> server;
  std::unique_ptr<ClientOptions> client;
};

}  // namespace lwsnode
