// Server certificates beyond the one leaf lws loads from memory: the intermediate chain sent
// after it, other certificates chosen by the name the client asks for (SNI), the TLS policy
// (client certificates, minimum version, ciphers), and their replacement on a live server
// (setTls). Also what both sides report about a peer's certificate. I/O thread.
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

// Settings of a server's TLS contexts besides its certificates (lib/tls-options.ts).
struct TlsPolicy {
  std::string clientCa;        // PEM: trusted for client certificates; empty: the system's store
  bool requestCert = false;    // ask for a client certificate
  bool rejectUnauthorized = true;  // ... and fail the handshake without a valid one
  int minVersion = TLS1_2_VERSION;
  std::string ciphers;       // TLS 1.2 list; empty: OpenSSL's default
  std::string ciphersuites;  // TLS 1.3 suites; empty: OpenSSL's default
};

// Node's name of an X509_V_ERR_* code ("CERT_HAS_EXPIRED", "ERR_TLS_CERT_ALTNAME_INVALID" for
// a host name mismatch, as Node reports its own check).
std::string verifyErrorName(long code);

// "<verifyErrorName or empty when verified>\n" + the DER of the peer's certificate, or ""
// when the peer sent none (or `ssl` is null).
std::string peerCertificateRecord(SSL* ssl);

// A client's failed TLS handshake as "CODE message": CODE is Node's name of the verification
// error (from `ssl`'s verify result, else the X509_V_ERR number lws put in `lwsReason`), or
// ERR_SSL_<OpenSSL reason> for a handshake the peer refused, else ETLS.
std::string describeClientTlsFailure(SSL* ssl, const std::string& lwsReason);

// A fatal TLS alert the server sent (its number) as "ERR_SSL_<OpenSSL's reason> message", e.g.
// ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: with TLS 1.3 a server refuses a client
// certificate only after the client's handshake completed, so this is how it shows.
std::string describeReceivedAlert(int alert);

// Adds every certificate of `pem` after the first `skip` to what `vh`'s client TLS context
// trusts (lws itself loads only the first of a CA bundle). Returns how many were added.
int addClientTrust(lws_vhost* vh, const std::string& pem, int skip);

class TlsCerts {
 public:
  // Adds `chainPem`'s certificates and `policy` to the vhost's context (lws's, loaded with the
  // leaf and key) and, if `sni` is not empty, a context per entry and the callback that
  // switches a handshake to it. On failure fills `error` ("CODE message") and returns false.
  bool configure(SSL_CTX* vhostCtx, const std::string& chainPem, const std::vector<SniIdentity>& sni,
                 const TlsPolicy& policy, std::string& error);
  // setTls: replaces the leaf, key, chain, SNI entries and policy configure() set up, for
  // handshakes that start from now on (each SSL copies what it uses when it is created or
  // switched). All or nothing: on failure nothing changed.
  bool replace(const SniIdentity& main, const std::vector<SniIdentity>& sni, const TlsPolicy& policy, std::string& error);

 private:
  struct CtxFree {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
  };
  using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;

  static int onServerName(SSL* ssl, int* alert, void* arg);
  SSL_CTX* find(const char* host) const;
  bool buildSni(const std::vector<SniIdentity>& sni, const TlsPolicy& policy,
                std::vector<std::pair<std::string, CtxPtr>>& out, std::string& error) const;
  void installSni(std::vector<std::pair<std::string, CtxPtr>> contexts);

  SSL_CTX* ctx_ = nullptr;  // lws's context of the vhost; lives as long as the server
  CtxPtr main_;             // set by replace(): the certificate that took lws's place

  // A handshake that switched keeps its own reference (SSL_set_SSL_CTX), so these may go
  // with the server even if a connection outlives it.
  std::vector<std::pair<std::string, CtxPtr>> byName_;
};

}  // namespace lwsnode
