// Option marshalling: the plain objects lib/ passes to listen(), setTls() and connect() into
// the native option structs (options.h). JS thread only; lib/ validated every value already.
#include "binding_options.h"

#include <string>
#include <vector>

namespace lwsnode {

namespace {

// Field readers: lib/ passes each field with the right type (a wrong one throws a TypeError).
std::string str(const Napi::Object& o, const char* key) { return o.Get(key).As<Napi::String>().Utf8Value(); }
uint32_t u32(const Napi::Object& o, const char* key) { return o.Get(key).As<Napi::Number>().Uint32Value(); }
int32_t i32(const Napi::Object& o, const char* key) { return o.Get(key).As<Napi::Number>().Int32Value(); }
size_t bytes(const Napi::Object& o, const char* key) {
  return static_cast<size_t>(o.Get(key).As<Napi::Number>().Int64Value());
}
bool flag(const Napi::Object& o, const char* key) { return o.Get(key).ToBoolean(); }
std::vector<std::string> strings(const Napi::Object& o, const char* key) {
  Napi::Array a = o.Get(key).As<Napi::Array>();
  std::vector<std::string> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  return out;
}

}  // namespace

// The tls* fields of listen()'s options (lib/native.ts NativeTlsOptions) into `opts`.
void readTlsOptions(const Napi::Object& o, ServerOptions& opts) {
  opts.tlsCert = str(o, "tlsCert");
  opts.tlsKey = str(o, "tlsKey");
  opts.tlsChain = str(o, "tlsChain");
  Napi::Array sni = o.Get("tlsSni").As<Napi::Array>();
  for (uint32_t i = 0; i < sni.Length(); ++i) {
    Napi::Object e = sni.Get(i).As<Napi::Object>();
    opts.tlsSni.push_back({str(e, "name"), str(e, "cert"), str(e, "key")});
  }
  TlsPolicy& p = opts.tlsPolicy;
  p.clientCa = str(o, "tlsClientCa");
  p.requestCert = flag(o, "tlsRequestCert");
  p.rejectUnauthorized = flag(o, "tlsRejectUnauthorized");
  p.minVersion = i32(o, "tlsMinVersion");
  p.ciphers = str(o, "tlsCiphers");
  p.ciphersuites = str(o, "tlsCiphersuites");
}

// listen()'s options (lib/native.ts NativeListenOptions).
std::unique_ptr<ServerOptions> serverOptionsFrom(const Napi::Object& o) {
  auto opts = std::make_unique<ServerOptions>();
  opts->id = u32(o, "id");
  opts->port = i32(o, "port");
  opts->host = str(o, "host");
  opts->paths = strings(o, "paths");
  opts->captureHeaders = strings(o, "captureHeaders");
  opts->upgradeHook = flag(o, "upgradeHook");
  opts->upgradeTimeoutMs = u32(o, "upgradeTimeout");
  opts->maxPendingUpgrades = u32(o, "maxPendingUpgrades");
  opts->maxHeaderSize = u32(o, "maxHeaderSize");
  opts->limits.maxPayloadLength = bytes(o, "maxPayloadLength");
  opts->limits.closeTimeoutMs = u32(o, "closeTimeoutMs");
  opts->limits.maxBackpressure = bytes(o, "maxBackpressure");
  opts->limits.closeOnBackpressureLimit = flag(o, "closeOnBackpressureLimit");
  opts->maxConnections = u32(o, "maxConnections");
  opts->maxConnectionsPerIp = u32(o, "maxConnectionsPerIp");
  opts->handshakeRateLimit = u32(o, "handshakeRateLimit");
  opts->idleTimeoutMs = u32(o, "idleTimeout");
  opts->sendPings = flag(o, "sendPings");
  opts->handshakeTimeoutSecs = u32(o, "handshakeTimeout");
  opts->attached = flag(o, "attached");
  opts->reusePort = flag(o, "reusePort");
  opts->httpHook = flag(o, "httpHook");
  if (o.Has("unix")) opts->unixPath = str(o, "unix");
  if (o.Has("deflateThreshold")) {
    opts->perMessageDeflate = true;
    opts->limits.deflateThreshold = u32(o, "deflateThreshold");
    opts->deflateLevel = i32(o, "deflateLevel");
  }
  if (o.Has("tlsCert")) readTlsOptions(o, *opts);
  return opts;
}

// connect()'s options (lib/native.ts NativeConnectOptions); headers come as [name, value, ...].
std::unique_ptr<ClientOptions> clientOptionsFrom(const Napi::Object& o) {
  auto opts = std::make_unique<ClientOptions>();
  opts->id = u32(o, "id");
  opts->address = str(o, "address");
  opts->host = str(o, "host");
  opts->port = i32(o, "port");
  opts->path = str(o, "path");
  opts->origin = str(o, "origin");
  opts->protocols = str(o, "protocols");
  const std::vector<std::string> headers = strings(o, "headers");  // name, value, name, ...
  for (size_t i = 0; i + 1 < headers.size(); i += 2) opts->headers.emplace_back(headers[i], headers[i + 1]);
  opts->tls = flag(o, "tls");
  opts->ca = str(o, "ca");
  opts->rejectUnauthorized = flag(o, "rejectUnauthorized");
  opts->cert = str(o, "cert");
  opts->key = str(o, "key");
  opts->servername = str(o, "servername");
  opts->minVersion = i32(o, "minVersion");
  opts->ciphers = str(o, "ciphers");
  opts->ciphersuites = str(o, "ciphersuites");
  if (o.Has("proxyAddress")) {
    opts->proxyAddress = str(o, "proxyAddress");
    opts->proxyPort = i32(o, "proxyPort");
  }
  opts->perMessageDeflate = flag(o, "perMessageDeflate");
  opts->handshakeTimeoutMs = u32(o, "handshakeTimeoutMs");
  opts->limits.maxPayloadLength = bytes(o, "maxPayloadLength");
  opts->limits.closeTimeoutMs = u32(o, "closeTimeoutMs");
  return opts;
}

}  // namespace lwsnode
