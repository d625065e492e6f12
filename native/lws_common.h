// What server and client vhosts (and their connections) share in how they set up lws.
// I/O thread only.
#pragma once

#include <libwebsockets.h>

#include <cerrno>

namespace lwsnode {

// No lws validity timers, for servers' and clients' connections alike (our idle policy is
// Reactor::onIdleTick): without a policy lws would apply its default (ping at 300 s) and keep a
// timer per connection in one linearly sorted list, which made every accept walk all the open
// connections.
inline const lws_retry_bo_t kNoValidityTimers{};

// permessage-deflate: lws negotiates it and inflates what arrives; we deflate (deflater.h).
// A server vhost accepts offers (Server::negotiateDeflate picks one, our lws patch 0500).
inline const lws_extension kServerDeflateExtension[] = {
    {"permessage-deflate", lws_extension_callback_pm_deflate, "permessage-deflate"},
    {nullptr, nullptr, nullptr},
};
// A client vhost with perMessageDeflate offers this. No context takeover for the client's
// direction costs nothing (we never compress with context); the server's window stays its choice.
inline const lws_extension kClientDeflateExtension[] = {
    {"permessage-deflate", lws_extension_callback_pm_deflate,
     "permessage-deflate; client_no_context_takeover; client_max_window_bits"},
    {nullptr, nullptr, nullptr},
};

// Node's name for the errno of a failed listen or connect (what JS puts in an error's `code`),
// else `fallback`.
inline const char* errnoCode(int err, const char* fallback) {
  switch (err) {
    case EADDRINUSE: return "EADDRINUSE";
    case EACCES: return "EACCES";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EINVAL: return "EINVAL";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    case ETIMEDOUT: return "ETIMEDOUT";
    default: return fallback;
  }
}

}  // namespace lwsnode
