#include "tls_certs.h"

#include <libwebsockets.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <strings.h>

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

// Appends every certificate of `pem` to the chain `ctx` sends after its leaf; `skip` first.
bool addChain(SSL_CTX* ctx, const std::string& pem, int skip) {
  auto bio = memBio(pem);
  if (!bio) return false;
  for (int i = 0;; ++i) {
    std::unique_ptr<X509, X509Free> x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!x) break;
    if (i < skip) continue;
    if (!SSL_CTX_add1_chain_cert(ctx, x.get())) return false;
  }
  ERR_clear_error();  // the read that ends the loop leaves a "no start line" error behind
  return true;
}

// A context for one SNI identity, with the same protocol floor as lws's (TLS 1.2+).
SSL_CTX* newIdentityContext(const SniIdentity& id) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return nullptr;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  auto certBio = memBio(id.cert);
  auto keyBio = memBio(id.key);
  std::unique_ptr<X509, X509Free> leaf(certBio ? PEM_read_bio_X509(certBio.get(), nullptr, nullptr, nullptr) : nullptr);
  std::unique_ptr<EVP_PKEY, KeyFree> key(keyBio ? PEM_read_bio_PrivateKey(keyBio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!leaf || !key || SSL_CTX_use_certificate(ctx, leaf.get()) != 1 || SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1 || !addChain(ctx, id.cert, 1)) {
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
  auto bio = memBio(pem);
  if (!bio) return 0;
  int added = 0;
  for (int i = 0;; ++i) {
    std::unique_ptr<X509, X509Free> x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!x) break;
    if (i < skip) continue;
    unsigned char* der = nullptr;  // allocated by i2d_X509
    const int len = i2d_X509(x.get(), &der);
    if (len <= 0) break;
    if (lws_tls_client_vhost_extra_cert_mem(vh, der, static_cast<size_t>(len)) == 0) ++added;
    OPENSSL_free(der);
  }
  ERR_clear_error();  // the read that ends the loop leaves a "no start line" error behind
  return added;
}

bool TlsCerts::configure(SSL_CTX* vhostCtx, const std::string& chainPem, const std::vector<SniIdentity>& sni,
                         std::string& error) {
  if (!chainPem.empty() && !addChain(vhostCtx, chainPem, 0)) {
    error = "the certificate chain was refused";
    return false;
  }
  for (const SniIdentity& id : sni) {
    CtxPtr ctx(newIdentityContext(id));
    if (!ctx) {
      error = "the certificate or key for SNI name " + id.name + " was refused";
      return false;
    }
    byName_.emplace_back(id.name, std::move(ctx));
  }
  if (!byName_.empty()) {
    // Replaces lws's own name callback, which picks among vhosts sharing a port: ours never do.
    SSL_CTX_set_tlsext_servername_callback(vhostCtx, &TlsCerts::onServerName);
    SSL_CTX_set_tlsext_servername_arg(vhostCtx, this);
  }
  return true;
}

SSL_CTX* TlsCerts::find(const char* host) const {
  for (const auto& [name, ctx] : byName_)
    if (matches(name, host)) return ctx.get();
  return nullptr;
}

int TlsCerts::onServerName(SSL* ssl, int* /*alert*/, void* arg) {
  const char* host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!host) return SSL_TLSEXT_ERR_NOACK;  // no SNI: the default certificate
  if (SSL_CTX* ctx = static_cast<const TlsCerts*>(arg)->find(host)) SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace lwsnode
