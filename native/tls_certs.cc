#include "tls_certs.h"

#include <libwebsockets.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <strings.h>

#include <cctype>
#include <cstdlib>
#include <cstring>

namespace lwsnode {

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioFree> memBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Calls `use` with each certificate of the PEM bundle `pem` after the first `skip`, in order,
// until one returns false. False if the bundle could not be read or `use` refused one.
template <typename Use>
bool forEachCert(const std::string& pem, int skip, Use use) {
  auto bio = memBio(pem);
  bool ok = bio != nullptr;
  for (int i = 0; ok; ++i) {
    std::unique_ptr<X509, X509Free> x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!x) break;
    if (i >= skip) ok = use(x.get());
  }
  ERR_clear_error();  // the read that ends the loop leaves a "no start line" error behind
  return ok;
}

// Appends every certificate of `pem` to the chain `ctx` sends after its leaf; `skip` first.
bool addChain(SSL_CTX* ctx, const std::string& pem, int skip) {
  return forEachCert(pem, skip, [ctx](X509* x) { return SSL_CTX_add1_chain_cert(ctx, x) == 1; });
}

struct StoreFree {
  void operator()(X509_STORE* st) const { X509_STORE_free(st); }
};
struct NamesFree {
  void operator()(STACK_OF(X509_NAME) * names) const { sk_X509_NAME_pop_free(names, X509_NAME_free); }
};

std::unique_ptr<X509, X509Free> readCert(const std::string& pem) {
  auto bio = memBio(pem);
  return std::unique_ptr<X509, X509Free>(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

std::unique_ptr<EVP_PKEY, KeyFree> readKey(const std::string& pem) {
  auto bio = memBio(pem);
  return std::unique_ptr<EVP_PKEY, KeyFree>(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

// rejectUnauthorized: false: the chain is still verified (the result is what peerCertificate
// reports as authorized/authorizationError), but a failure does not end the handshake.
int acceptAnyway(int /*preverifyOk*/, X509_STORE_CTX* /*ctx*/) { return 1; }

// Sessions are resumable only within the same verification settings (OpenSSL refuses to
// resume a verified session without an id context, and SNI contexts must share it).
const unsigned char kSessionContext[] = "lwsnode";

// Applies `policy` to a server context. `live`: the context already served with another
// policy (setTls), so an empty cipher setting means "back to OpenSSL's defaults" instead of
// "leave as made". On failure fills `error` ("CODE message").
bool applyPolicy(SSL_CTX* ctx, const TlsPolicy& policy, bool live, std::string& error) {
  SSL_CTX_set_min_proto_version(ctx, policy.minVersion);
  const char* ciphers = !policy.ciphers.empty() ? policy.ciphers.c_str() : live ? OSSL_default_cipher_list() : nullptr;
  if (ciphers && SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
    ERR_clear_error();
    error = "ERR_TLS_CIPHERS tls.ciphers matches no cipher";
    return false;
  }
  const char* suites = !policy.ciphersuites.empty() ? policy.ciphersuites.c_str() : live ? OSSL_default_ciphersuites() : nullptr;
  if (suites && SSL_CTX_set_ciphersuites(ctx, suites) != 1) {
    ERR_clear_error();
    error = "ERR_TLS_CIPHERS tls.ciphersuites matches no TLS 1.3 cipher suite";
    return false;
  }
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  if (!policy.requestCert) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    return true;
  }
  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  std::unique_ptr<STACK_OF(X509_NAME), NamesFree> names(sk_X509_NAME_new_null());
  if (!store || !names) {
    error = "ERR_TLS_CERT out of memory";
    return false;
  }
  if (policy.clientCa.empty()) {
    X509_STORE_set_default_paths(store.get());
  } else {
    forEachCert(policy.clientCa, 0, [&](X509* x) {
      X509_STORE_add_cert(store.get(), x);  // a duplicate is refused: harmless
      if (X509_NAME* name = X509_NAME_dup(X509_get_subject_name(x)))
        if (!sk_X509_NAME_push(names.get(), name)) X509_NAME_free(name);
      return true;
    });
  }
  ERR_clear_error();  // duplicates refused by the store
  SSL_CTX_set_cert_store(ctx, store.release());            // the context owns it from here
  SSL_CTX_set_client_CA_list(ctx, names.release());        // ... and these (the CAs a client may pick from)
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (policy.rejectUnauthorized ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                     policy.rejectUnauthorized ? nullptr : &acceptAnyway);
  return true;
}

// Loads leaf, key and chain of `id` into `ctx` (replacing what it had).
bool loadIdentity(SSL_CTX* ctx, const SniIdentity& id) {
  auto leaf = readCert(id.cert);
  auto key = readKey(id.key);
  if (!leaf || !key || SSL_CTX_use_certificate(ctx, leaf.get()) != 1 || SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1 || SSL_CTX_clear_chain_certs(ctx) != 1 || !addChain(ctx, id.cert, 1)) {
    ERR_clear_error();
    return false;
  }
  return true;
}

// A context for one SNI identity, with the same protocol floor and policy as the main one.
SSL_CTX* newIdentityContext(const SniIdentity& id, const TlsPolicy& policy, std::string& error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return nullptr;
  if (!loadIdentity(ctx, id)) {
    error = "ERR_TLS_CERT the certificate or key for SNI name " + id.name + " was refused";
    SSL_CTX_free(ctx);
    return nullptr;
  }
  if (!applyPolicy(ctx, policy, false, error)) {
    SSL_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

// "*.example.com" matches one label in front of ".example.com"; other names match exactly.
bool matches(const std::string& pattern, const char* host) {
  if (pattern.size() > 2 && pattern[0] == '*' && pattern[1] == '.') {
    const char* dot = std::strchr(host, '.');
    return dot && dot != host && strcasecmp(dot, pattern.c_str() + 1) == 0;
  }
  return strcasecmp(pattern.c_str(), host) == 0;
}

}  // namespace

int addClientTrust(lws_vhost* vh, const std::string& pem, int skip) {
  int added = 0;
  forEachCert(pem, skip, [&](X509* x) {
    unsigned char* der = nullptr;  // allocated by i2d_X509
    const int len = i2d_X509(x, &der);
    if (len <= 0) return false;
    if (lws_tls_client_vhost_extra_cert_mem(vh, der, static_cast<size_t>(len)) == 0) ++added;
    OPENSSL_free(der);
    return true;
  });
  return added;
}

bool TlsCerts::buildSni(const std::vector<SniIdentity>& sni, const TlsPolicy& policy,
                        std::vector<std::pair<std::string, CtxPtr>>& out, std::string& error) const {
  for (const SniIdentity& id : sni) {
    CtxPtr ctx(newIdentityContext(id, policy, error));
    if (!ctx) return false;
    out.emplace_back(id.name, std::move(ctx));
  }
  return true;
}

void TlsCerts::installSni(std::vector<std::pair<std::string, CtxPtr>> contexts) {
  // A handshake that switched to an old context holds its own reference (SSL_set_SSL_CTX).
  byName_ = std::move(contexts);
  // Replaces lws's own name callback, which picks among vhosts sharing a port: ours never do.
  // Left in place when the list becomes empty: find() then answers "the default".
  if (!byName_.empty() || main_) {
    SSL_CTX_set_tlsext_servername_callback(ctx_, &TlsCerts::onServerName);
    SSL_CTX_set_tlsext_servername_arg(ctx_, this);
  }
}

bool TlsCerts::configure(SSL_CTX* vhostCtx, const std::string& chainPem, const std::vector<SniIdentity>& sni,
                         const TlsPolicy& policy, std::string& error) {
  ctx_ = vhostCtx;
  if (!chainPem.empty() && !addChain(vhostCtx, chainPem, 0)) {
    error = "ERR_TLS_CERT the certificate chain was refused";
    return false;
  }
  if (!applyPolicy(vhostCtx, policy, false, error)) return false;
  std::vector<std::pair<std::string, CtxPtr>> contexts;
  if (!buildSni(sni, policy, contexts, error)) return false;
  installSni(std::move(contexts));
  return true;
}

bool TlsCerts::replace(const SniIdentity& main, const std::vector<SniIdentity>& sni, const TlsPolicy& policy,
                       std::string& error) {
  if (!ctx_) {
    error = "ERR_TLS_CERT the server has no TLS context";
    return false;
  }
  // The new certificate goes in a context of its own that every handshake switches to (as
  // SNI names do), rather than into lws's: OpenSSL keeps one certificate per key type there,
  // so an RSA renewal of an ECDSA certificate would leave the old one served. Everything
  // that can fail is built first; the live state changes only when it all worked.
  CtxPtr replacement(newIdentityContext(main, policy, error));
  if (!replacement) return false;
  std::vector<std::pair<std::string, CtxPtr>> contexts;
  if (!buildSni(sni, policy, contexts, error)) return false;
  // Verification mode, versions and ciphers are read from the context an SSL was made from
  // (lws's), not from the one it switches to.
  if (!applyPolicy(ctx_, policy, true, error)) return false;
  main_ = std::move(replacement);
  installSni(std::move(contexts));
  return true;
}

SSL_CTX* TlsCerts::find(const char* host) const {
  for (const auto& [name, ctx] : byName_)
    if (matches(name, host)) return ctx.get();
  return nullptr;
}

std::string verifyErrorName(long code) {
#define LWSNODE_VERIFY_NAME(name) \
  case X509_V_ERR_##name:         \
    return #name;
  switch (code) {
    LWSNODE_VERIFY_NAME(UNABLE_TO_GET_ISSUER_CERT)
    LWSNODE_VERIFY_NAME(UNABLE_TO_GET_CRL)
    LWSNODE_VERIFY_NAME(UNABLE_TO_DECRYPT_CERT_SIGNATURE)
    LWSNODE_VERIFY_NAME(UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY)
    LWSNODE_VERIFY_NAME(CERT_SIGNATURE_FAILURE)
    LWSNODE_VERIFY_NAME(CERT_NOT_YET_VALID)
    LWSNODE_VERIFY_NAME(CERT_HAS_EXPIRED)
    LWSNODE_VERIFY_NAME(ERROR_IN_CERT_NOT_BEFORE_FIELD)
    LWSNODE_VERIFY_NAME(ERROR_IN_CERT_NOT_AFTER_FIELD)
    LWSNODE_VERIFY_NAME(DEPTH_ZERO_SELF_SIGNED_CERT)
    LWSNODE_VERIFY_NAME(SELF_SIGNED_CERT_IN_CHAIN)
    LWSNODE_VERIFY_NAME(UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
    LWSNODE_VERIFY_NAME(UNABLE_TO_VERIFY_LEAF_SIGNATURE)
    LWSNODE_VERIFY_NAME(CERT_CHAIN_TOO_LONG)
    LWSNODE_VERIFY_NAME(CERT_REVOKED)
    LWSNODE_VERIFY_NAME(INVALID_CA)
    LWSNODE_VERIFY_NAME(PATH_LENGTH_EXCEEDED)
    LWSNODE_VERIFY_NAME(INVALID_PURPOSE)
    LWSNODE_VERIFY_NAME(CERT_UNTRUSTED)
    LWSNODE_VERIFY_NAME(CERT_REJECTED)
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:  // a URL with an address: lws checks the IP SAN
      return "ERR_TLS_CERT_ALTNAME_INVALID";  // Node's code for its own host name check
    default:
      return "X509_V_ERR_" + std::to_string(code);
  }
#undef LWSNODE_VERIFY_NAME
}

namespace {
// "ERR_SSL_<REASON> the TLS handshake failed: <reason>" for OpenSSL's reason text, as Node
// names its SSL errors ("tlsv1 alert protocol version" -> ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION).
std::string sslReasonFailure(const std::string& text) {
  std::string code = "ERR_SSL_";
  for (char c : text) code += c == ' ' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return code + " the TLS handshake failed: " + text;
}
}  // namespace

std::string describeReceivedAlert(int alert) {
  // OpenSSL reports a received fatal alert as reason SSL_AD_REASON_OFFSET + its number.
  const char* text = ERR_reason_error_string(ERR_PACK(ERR_LIB_SSL, 0, SSL_AD_REASON_OFFSET + alert));
  return sslReasonFailure(text ? text : "alert " + std::to_string(alert));
}

std::string peerCertificateRecord(SSL* ssl) {
  if (!ssl) return std::string();
  std::unique_ptr<X509, X509Free> peer(SSL_get_peer_certificate(ssl));  // a new reference
  if (!peer) return std::string();
  const long verify = SSL_get_verify_result(ssl);
  std::string record = verify == X509_V_OK ? std::string() : verifyErrorName(verify);
  record += '\n';
  unsigned char* der = nullptr;  // allocated by i2d_X509
  const int len = i2d_X509(peer.get(), &der);
  if (len <= 0) return std::string();
  record.append(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return record;
}

std::string describeClientTlsFailure(SSL* ssl, const std::string& lwsReason) {
  long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (verify == X509_V_OK) {
    // lws's own check ("... X509_V_ERR = 18: ...") may have run on an SSL already gone.
    const size_t at = lwsReason.find("X509_V_ERR = ");
    if (at != std::string::npos) verify = std::strtol(lwsReason.c_str() + at + 13, nullptr, 10);
  }
  if (verify != X509_V_OK) {
    const char* why = X509_verify_cert_error_string(verify);
    return verifyErrorName(verify) + " the server's certificate was refused: " + why;
  }
  // A refused handshake: lws appends OpenSSL's "error:0A000410:SSL routines::sslv3 alert
  // handshake failure"; Node names it ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE.
  const size_t e = lwsReason.find("error:");
  if (e != std::string::npos) {
    std::string reason = lwsReason.substr(e);
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == '\r' || reason.back() == ' ')) reason.pop_back();
    const size_t colon = reason.rfind(':');
    return sslReasonFailure(colon == std::string::npos ? reason : reason.substr(colon + 1));
  }
  std::string clean = lwsReason;
  while (!clean.empty() && (clean.back() == '\n' || clean.back() == '\r' || clean.back() == ' ')) clean.pop_back();
  return "ETLS the TLS handshake failed" + (clean.empty() ? std::string() : ": " + clean);
}

int TlsCerts::onServerName(SSL* ssl, int* /*alert*/, void* arg) {
  const auto* self = static_cast<const TlsCerts*>(arg);
  // Called for every handshake, with or without a name.
  const char* host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  SSL_CTX* ctx = host ? self->find(host) : nullptr;
  if (!ctx) ctx = self->main_.get();  // after setTls: the replacement of lws's certificate
  if (ctx) SSL_set_SSL_CTX(ssl, ctx);
  return host ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_NOACK;
}

}  // namespace lwsnode
