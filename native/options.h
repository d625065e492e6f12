// What JS configures: a server (listen()), an outgoing connection (connect()), and the
// per-connection limits both hand to their Connections. Filled on the JS thread
// (binding_options.cc), then moved into a Command: the I/O thread owns them from there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server_stats.h"
#include "tls_certs.h"

namespace lwsnode {

// What one Connection enforces, whoever made it (Connection reads nothing else of its owner's
// options).
struct ConnectionLimits {
  size_t maxPayloadLength = 16 * 1024 * 1024;
  uint32_t closeTimeoutMs = 5000;     // a close we start may wait this long for the peer's
  uint32_t deflateThreshold = 1024;   // with permessage-deflate: smaller messages go uncompressed
  size_t maxBackpressure = 16 * 1024 * 1024;  // publish deliveries beyond this are dropped
  bool closeOnBackpressureLimit = false;      // ... or the slow socket is closed with 1008
};

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
  ConnectionLimits limits;                    // for each accepted socket
  uint32_t maxConnections = 0;                // 0: unlimited; over it upgrades get 503
  uint32_t maxConnectionsPerIp = 0;           // 0: unlimited; over it upgrades get 429
  uint32_t handshakeRateLimit = 0;            // handshakes per address per second; 0: unlimited
  uint32_t idleTimeoutMs = 120000;            // 0: never; checked once a second (Reactor::kIdleTickMs)
  bool sendPings = true;                      // ping idle sockets before closing them
  uint32_t handshakeTimeoutSecs = 10;         // a client must complete its upgrade request within this
  bool perMessageDeflate = false;             // negotiate RFC 7692 with clients that offer it
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
  // compressed by our Deflater (Client::onEstablished) when the server accepts.
  bool perMessageDeflate = false;
  uint32_t handshakeTimeoutMs = 10000;
  ConnectionLimits limits;  // maxPayloadLength and closeTimeoutMs from JS; the rest as defaulted
};

}  // namespace lwsnode
