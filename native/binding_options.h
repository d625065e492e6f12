// JS option objects into options.h's structs (binding_options.cc). JS thread only.
#pragma once

#include <napi.h>

#include <memory>

#include "options.h"

namespace lwsnode {

// listen()'s options (lib/native.ts NativeListenOptions); the caller adds `stats`.
std::unique_ptr<ServerOptions> serverOptionsFrom(const Napi::Object& o);
// The tls* fields of listen()'s or setTls()'s options (lib/native.ts NativeTlsOptions) into `opts`.
void readTlsOptions(const Napi::Object& o, ServerOptions& opts);
// connect()'s options (lib/native.ts NativeConnectOptions).
std::unique_ptr<ClientOptions> clientOptionsFrom(const Napi::Object& o);

}  // namespace lwsnode
