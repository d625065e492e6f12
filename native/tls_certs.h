// Server certificates beyond the one leaf lws loads from memory: the intermediate chain sent
// after it, and other certificates chosen by the name the client asks for (SNI). I/O thread.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

struct lws_vhost;

namespace lwsnode {

// One certificate for the names that match `name` ("host.example" or "*.example").
struct SniIdentity {
  std::string name;
  std::string cert;  // PEM: the leaf, then its chain
  std::string key;   // PEM, unencrypted
};

// Adds every certificate of `pem` after the first `skip` to what `vh`'s client TLS context
// trusts (lws itself loads only the first of a CA bundle). Returns how many were added.
int addClientTrust(lws_vhost* vh, const std::string& pem, int skip);

class TlsCerts {
 public:
  // Adds `chainPem`'s certificates to the vhost's context and, if `sni` is not empty, a
  // context per entry and the callback that switches a handshake to it. On failure fills
  // `error` and returns false.
  bool configure(SSL_CTX* vhostCtx, const std::string& chainPem, const std::vector<SniIdentity>& sni,
                 std::string& error);

 private:
  struct CtxFree {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
  };
  using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;

  static int onServerName(SSL* ssl, int* alert, void* arg);
  SSL_CTX* find(const char* host) const;

  // A handshake that switched keeps its own reference (SSL_set_SSL_CTX), so these may go
  // with the server even if a connection outlives it.
  std::vector<std::pair<std::string, CtxPtr>> byName_;
};

}  // namespace lwsnode
