// Client vhosts: one per distinct TLS/proxy/deflate configuration (Client::vhostKey()),
// created on the first connect that needs it and kept until the context goes.
#include "reactor.h"

#include <libwebsockets.h>

#include "client.h"
#include "lws_common.h"
#include "tls_certs.h"

namespace lwsnode {

lws_vhost* Reactor::clientVhost(const Client& client) {
  const std::string key = client.vhostKey();
  auto it = clientVhosts_.find(key);
  if (it != clientVhosts_.end() && it->second.vhost) return it->second.vhost;
  ClientVhost& entry = clientVhosts_[key];  // a map node never moves: lws keeps the name's pointer
  entry.name = "lwsnode-client-" + std::to_string(clientVhosts_.size());
  const ClientOptions& o = client.options();
  lws_context_creation_info info{};
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols();
  info.vhost_name = entry.name.c_str();
  info.user = this;  // like the default vhost: serverOf() sees no Server here
  info.log_cx = &logCx_;
  if (o.perMessageDeflate) info.extensions = kClientDeflateExtension;
  // lws tunnels each connection of this vhost through the proxy with CONNECT host:port. Without
  // one, say so: lws would otherwise take $http_proxy from the environment, and a proxy is
  // opt-in (the `proxy` option). ":0" parses as no address, port 0: no proxy, and no error log.
  const bool v6 = o.proxyAddress.find(':') != std::string::npos;  // lws wants "[::1]:port"
  const std::string proxy = o.proxyAddress.empty() ? ":0"
                            : (v6 ? "[" + o.proxyAddress + "]" : o.proxyAddress) + ":" + std::to_string(o.proxyPort);
  info.http_proxy_address = proxy.c_str();  // copied by lws_create_vhost
  if (o.tls) {
    // Creates this vhost's client SSL_CTX (node's OpenSSL): the system's trust store, plus the
    // first certificate of `ca` when given (the others are added below). lws shares one
    // SSL_CTX between vhosts whose settings below hash the same, so each setting goes through
    // `info` (all hashed), never onto the SSL_CTX afterwards.
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    if (!o.ca.empty()) {
      info.client_ssl_ca_mem = o.ca.data();
      info.client_ssl_ca_mem_len = static_cast<unsigned int>(o.ca.size());
    }
    if (!o.cert.empty()) {  // mutual TLS: lws loads the PEM leaf and (unencrypted) key
      info.client_ssl_cert_mem = o.cert.data();
      info.client_ssl_cert_mem_len = static_cast<unsigned int>(o.cert.size());
      info.client_ssl_key_mem = o.key.data();
      info.client_ssl_key_mem_len = static_cast<unsigned int>(o.key.size());
    }
    info.ssl_client_options_set = static_cast<long>(SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 |
                                                    (o.minVersion >= TLS1_3_VERSION ? SSL_OP_NO_TLSv1_2 : 0));
    if (!o.ciphers.empty()) info.client_ssl_cipher_list = o.ciphers.c_str();
    info.ssl_info_event_mask = SSL_CB_READ_ALERT;  // a refusal by alert names its reason (Client::onTlsInfo)
    if (!o.ciphersuites.empty()) info.client_tls_1_3_plus_cipher_list = o.ciphersuites.c_str();
  }
  entry.vhost = lws_create_vhost(context_, &info);
  // JS checked every certificate of the bundle; one the store refuses (a duplicate) just adds
  // nothing, as with Node's own `ca`.
  if (entry.vhost && o.tls) addClientTrust(entry.vhost, o.ca, 1);
  return entry.vhost;
}

}  // namespace lwsnode
