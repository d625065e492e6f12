// Option marshalling: the plain objects lib/ passes to listen(), setTls() and connect() into
// the native option structs (options.h). JS thread only; lib/ validated every value already.
#include "binding_options.h"

namespace lwsnode {

// The tls* fields of listen()'s options (lib/native.ts NativeTlsOptions) into `opts`.
void readTlsOptions(const Napi::Object& o, ServerOptions& opts) {
  auto str = [&](const char* name) { return o.Get(name).As<Napi::String>().Utf8Value(); };
  opts.tlsCert = str("tlsCert");
  opts.tlsKey = str("tlsKey");
  opts.tlsChain = str("tlsChain");
  Napi::Array sni = o.Get("tlsSni").As<Napi::Array>();
  for (uint32_t i = 0; i < sni.Length(); ++i) {
    Napi::Object e = sni.Get(i).As<Napi::Object>();
    opts.tlsSni.push_back({e.Get("name").As<Napi::String>().Utf8Value(), e.Get("cert").As<Napi::String>().Utf8Value(),
                           e.Get("key").As<Napi::String>().Utf8Value()});
  }
  TlsPolicy& p = opts.tlsPolicy;
  p.clientCa = str("tlsClientCa");
  p.requestCert = o.Get("tlsRequestCert").ToBoolean();
  p.rejectUnauthorized = o.Get("tlsRejectUnauthorized").ToBoolean();
  p.minVersion = o.Get("tlsMinVersion").As<Napi::Number>().Int32Value();
  p.ciphers = str("tlsCiphers");
  p.ciphersuites = str("tlsCiphersuites");
}

// listen()'s options (lib/native.ts NativeListenOptions).
std::unique_ptr<ServerOptions> serverOptionsFrom(const Napi::Object& o) {
  auto opts = std::make_unique<ServerOptions>();
  opts->id = o.Get("id").As<Napi::Number>().Uint32Value();
  opts->port = o.Get("port").As<Napi::Number>().Int32Value();
  opts->host = o.Get("host").As<Napi::String>().Utf8Value();
  Napi::Array paths = o.Get("paths").As<Napi::Array>();
  for (uint32_t i = 0; i < paths.Length(); ++i) opts->paths.push_back(paths.Get(i).As<Napi::String>().Utf8Value());
  Napi::Array capture = o.Get("captureHeaders").As<Napi::Array>();
  for (uint32_t i = 0; i < capture.Length(); ++i) opts->captureHeaders.push_back(capture.Get(i).As<Napi::String>().Utf8Value());
  opts->upgradeHook = o.Get("upgradeHook").ToBoolean();
  opts->upgradeTimeoutMs = o.Get("upgradeTimeout").As<Napi::Number>().Uint32Value();
  opts->maxPendingUpgrades = o.Get("maxPendingUpgrades").As<Napi::Number>().Uint32Value();
  opts->maxHeaderSize = o.Get("maxHeaderSize").As<Napi::Number>().Uint32Value();
  opts->limits.maxPayloadLength = static_cast<size_t>(o.Get("maxPayloadLength").As<Napi::Number>().Int64Value());
  opts->limits.closeTimeoutMs = o.Get("closeTimeoutMs").As<Napi::Number>().Uint32Value();
  opts->limits.maxBackpressure = static_cast<size_t>(o.Get("maxBackpressure").As<Napi::Number>().Int64Value());
  opts->limits.closeOnBackpressureLimit = o.Get("closeOnBackpressureLimit").ToBoolean();
  opts->maxConnections = o.Get("maxConnections").As<Napi::Number>().Uint32Value();
  opts->maxConnectionsPerIp = o.Get("maxConnectionsPerIp").As<Napi::Number>().Uint32Value();
  opts->handshakeRateLimit = o.Get("handshakeRateLimit").As<Napi::Number>().Uint32Value();
  opts->idleTimeoutMs = o.Get("idleTimeout").As<Napi::Number>().Uint32Value();
  opts->sendPings = o.Get("sendPings").ToBoolean();
  opts->handshakeTimeoutSecs = o.Get("handshakeTimeout").As<Napi::Number>().Uint32Value();
  opts->attached = o.Get("attached").ToBoolean();
  opts->reusePort = o.Get("reusePort").ToBoolean();
  opts->httpHook = o.Get("httpHook").ToBoolean();
  if (o.Has("unix")) opts->unixPath = o.Get("unix").As<Napi::String>().Utf8Value();
  if (o.Has("deflateThreshold")) {
    opts->perMessageDeflate = true;
    opts->limits.deflateThreshold = o.Get("deflateThreshold").As<Napi::Number>().Uint32Value();
    opts->deflateLevel = o.Get("deflateLevel").As<Napi::Number>().Int32Value();
  }
  if (o.Has("tlsCert")) readTlsOptions(o, *opts);
  return opts;
}

// connect()'s options (lib/native.ts NativeConnectOptions): { id, address, host, port, path,
//   origin, protocols, headers: [name, value, ...],
//   tls, ca, rejectUnauthorized, perMessageDeflate, handshakeTimeoutMs, maxPayloadLength, closeTimeoutMs })
std::unique_ptr<ClientOptions> clientOptionsFrom(const Napi::Object& o) {
  auto opts = std::make_unique<ClientOptions>();
  opts->id = o.Get("id").As<Napi::Number>().Uint32Value();
  opts->address = o.Get("address").As<Napi::String>().Utf8Value();
  opts->host = o.Get("host").As<Napi::String>().Utf8Value();
  opts->port = o.Get("port").As<Napi::Number>().Int32Value();
  opts->path = o.Get("path").As<Napi::String>().Utf8Value();
  opts->origin = o.Get("origin").As<Napi::String>().Utf8Value();
  opts->protocols = o.Get("protocols").As<Napi::String>().Utf8Value();
  Napi::Array headers = o.Get("headers").As<Napi::Array>();
  for (uint32_t i = 0; i + 1 < headers.Length(); i += 2)
    opts->headers.emplace_back(headers.Get(i).As<Napi::String>().Utf8Value(),
                               headers.Get(i + 1).As<Napi::String>().Utf8Value());
  opts->tls = o.Get("tls").ToBoolean();
  opts->ca = o.Get("ca").As<Napi::String>().Utf8Value();
  opts->rejectUnauthorized = o.Get("rejectUnauthorized").ToBoolean();
  opts->cert = o.Get("cert").As<Napi::String>().Utf8Value();
  opts->key = o.Get("key").As<Napi::String>().Utf8Value();
  opts->servername = o.Get("servername").As<Napi::String>().Utf8Value();
  opts->minVersion = o.Get("minVersion").As<Napi::Number>().Int32Value();
  opts->ciphers = o.Get("ciphers").As<Napi::String>().Utf8Value();
  opts->ciphersuites = o.Get("ciphersuites").As<Napi::String>().Utf8Value();
  if (o.Has("proxyAddress")) {
    opts->proxyAddress = o.Get("proxyAddress").As<Napi::String>().Utf8Value();
    opts->proxyPort = o.Get("proxyPort").As<Napi::Number>().Int32Value();
  }
  opts->perMessageDeflate = o.Get("perMessageDeflate").ToBoolean();
  opts->handshakeTimeoutMs = o.Get("handshakeTimeoutMs").As<Napi::Number>().Uint32Value();
  opts->limits.maxPayloadLength = static_cast<size_t>(o.Get("maxPayloadLength").As<Napi::Number>().Int64Value());
  opts->limits.closeTimeoutMs = o.Get("closeTimeoutMs").As<Napi::Number>().Uint32Value();
  return opts;
}

}  // namespace lwsnode
