// The lws protocol callback: routes each lws callback reason to the Server, PendingUpgrade,
// Client or Connection it concerns. All of it runs on the I/O thread.
#include "reactor.h"

#include <libwebsockets.h>

#include <cstring>
#include <strings.h>

#include "client.h"
#include "connection.h"
#include "server.h"
#include "upgrade.h"

namespace lwsnode {

namespace {

// lws allocates no per-session data for us (10k idle connections would be 10k 32-byte
// chunks): the wsi's user pointer (lws_set_wsi_user, which lws never frees) is the Connection
// from ESTABLISHED until CLOSED. Before ESTABLISHED it may hold the permessage-deflate window a
// server handshake accepted, as an odd integer (a Connection* is even), else it is null.
Connection* connectionOf(void* user) {
  return reinterpret_cast<uintptr_t>(user) & 1 ? nullptr : static_cast<Connection*>(user);
}
int handshakeWindowOf(void* user) {
  const uintptr_t v = reinterpret_cast<uintptr_t>(user);
  return v & 1 ? static_cast<int>(v >> 1) : 0;
}
void setHandshakeWindow(lws* wsi, int window) {
  lws_set_wsi_user(wsi, reinterpret_cast<void*>((static_cast<uintptr_t>(window) << 1) | 1));
}

// One protocol serves every vhost; per-server state hangs off the vhost's user pointer.
const lws_protocols kProtocols[] = {
    {
        "lwsnode",
        &Reactor::lwsCallback,
        0,  // no per-session data: the wsi's user pointer is the Connection (see connectionOf)
        // rx_buffer_size: allocated per connection once it receives (lws patch 0002); it holds
        // control frames, and a client connection's payload is handed to us in pieces of it.
        // Server reads and payload pieces are not bound by it (patch 1000: the thread buffer).
        4096,
        0,
        nullptr,
        64 * 1024 * 1024,  // tx_packet_size: let one write hand the kernel all it takes
    },
    LWS_PROTOCOL_LIST_TERM,
};

Server* serverOf(lws* wsi) {
  lws_vhost* vh = lws_get_vhost(wsi);
  if (!vh) return nullptr;
  void* user = lws_vhost_user(vh);
  // The default vhost inherits the context's user pointer (the Reactor): it is no server.
  return user == lws_context_user(lws_get_context(wsi)) ? nullptr : static_cast<Server*>(user);
}

PendingUpgrade* pendingOf(lws* wsi) {
  Server* server = serverOf(wsi);
  return server ? server->pendingOf(wsi) : nullptr;
}

}  // namespace

const lws_protocols* Reactor::protocols() { return kProtocols; }

int Reactor::lwsCallback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len) {
  auto* self = static_cast<Reactor*>(lws_context_user(lws_get_context(wsi)));
  // This thread is running lws's callbacks: it passes through onPrepare before it polls again.
  self->commands_.markAwake();
  Connection* const conn = connectionOf(user);

  switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      // Only onPrepare's own lws turn cancels lws's wait now (JS wakes us through wake_, see
      // command_queue.h): nothing to apply here.
      return 0;

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
      Server* server = serverOf(wsi);
      if (!server || !in || strcasecmp(static_cast<const char*>(in), "websocket") != 0) return -1;
      return server->onConfirmUpgrade(wsi);
    }

    case LWS_CALLBACK_ADD_HEADERS:  // building a resumed handshake's 101
      if (PendingUpgrade* pending = pendingOf(wsi))
        return pending->addHeaders(*static_cast<lws_process_html_args*>(in)) ? 0 : 1;
      return 0;

    case LWS_CALLBACK_HTTP_WRITEABLE:  // a refused handshake's response
      if (PendingUpgrade* pending = pendingOf(wsi))
        if (pending->rejecting()) return pending->writeResponse();
      return 0;

    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
      Server* server = serverOf(wsi);
      return server && server->acceptsUpgrade(wsi) ? 0 : 1;
    }

    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS: {  // inside lws_create_vhost
      // `wsi` is a stand-in here; `in` is the vhost being created.
      void* owner = lws_vhost_user(static_cast<lws_vhost*>(in));
      if (owner == self) return 0;  // the context's default vhost
      return static_cast<Server*>(owner)->configureTls(static_cast<SSL_CTX*>(user)) ? 0 : 1;
    }

    case LWS_CALLBACK_NEGOTIATE_EXTENSIONS: {  // our lws patch 0500: during the handshake
      Server* server = serverOf(wsi);
      if (!server || conn) return 1;
      const int window = server->negotiateDeflate(*static_cast<lws_ext_negotiation*>(in));
      if (window) setHandshakeWindow(wsi, window);
      return window ? 0 : 1;
    }

    case LWS_CALLBACK_ESTABLISHED: {
      Server* server = serverOf(wsi);
      if (!server || conn) return -1;
      Connection* made = nullptr;
      const int rc = server->onEstablished(wsi, &made, handshakeWindowOf(user));
      lws_set_wsi_user(wsi, made);  // the wsi owns the Connection (if made) until CLOSED
      return rc;
    }

    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_CLIENT_RECEIVE:
      return conn ? conn->onReceive(in, len) : -1;

    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_CLIENT_WRITEABLE:
      return conn ? conn->onWritable() : 0;

    case LWS_CALLBACK_RECEIVE_PING:  // our lws patch: lws answers, we report
    case LWS_CALLBACK_CLIENT_RECEIVE_PING:
      if (conn) conn->onPing(in, len);
      return 0;

    case LWS_CALLBACK_RECEIVE_PONG:
    case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
      if (conn) conn->onPong(in, len);
      return 0;

    case LWS_CALLBACK_WS_HOLD_CLOSE:  // our lws patch 0500
      return conn && conn->onCloseHold(static_cast<const uint8_t*>(in), len) ? 1 : 0;

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      return conn ? conn->onPeerClose(static_cast<const uint8_t*>(in), len) : 0;

    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_CLIENT_CLOSED:
      if (conn) {
        std::unique_ptr<Connection> owned(conn);  // adopt the wsi's reference
        lws_set_wsi_user(wsi, nullptr);
        owned->onClosed();
        if (Server* server = owned->server()) server->onConnectionClosed(*owned);
        self->slots_.vacate(owned->slot());
        owned.reset();  // before its Client (which owns its limits) is let go
        if (reason == LWS_CALLBACK_CLIENT_CLOSED) {
          if (auto* client = static_cast<Client*>(lws_get_opaque_user_data(wsi))) client->onConnectionClosed();
          lws_set_opaque_user_data(wsi, nullptr);
        }
      }
      return 0;

    // ---- client connections (the opaque user data is the Client until its outcome) ----
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
      auto* client = static_cast<Client*>(lws_get_opaque_user_data(wsi));
      return client ? client->appendHeaders(wsi, static_cast<unsigned char**>(in), len) : 0;
    }

    case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
      if (auto* client = static_cast<Client*>(lws_get_opaque_user_data(wsi)))
        return client->beforeEstablished(wsi) ? 0 : 1;
      return 0;

    case LWS_CALLBACK_CLIENT_ESTABLISHED: {
      auto* client = static_cast<Client*>(lws_get_opaque_user_data(wsi));
      if (!client || conn) return -1;
      Connection* made = nullptr;
      const int rc = client->onEstablished(wsi, &made);
      lws_set_wsi_user(wsi, made);  // the wsi owns the Connection (if made) until CLIENT_CLOSED
      return rc;
    }

    case LWS_CALLBACK_SSL_INFO:  // client vhosts ask for alerts received (ssl_info_event_mask)
      if (auto* client = static_cast<Client*>(lws_get_opaque_user_data(wsi))) {
        const auto* si = static_cast<const lws_ssl_info*>(in);
        client->onTlsInfo(si->where, si->ret);
      }
      return 0;

    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
      if (auto* client = static_cast<Client*>(lws_get_opaque_user_data(wsi)))
        client->onConnectError(wsi, static_cast<const char*>(in), len);
      return 0;

    case LWS_CALLBACK_WSI_DESTROY:
      // A handshake parked for the upgrade hook whose client went away.
      if (PendingUpgrade* pending = pendingOf(wsi)) pending->server().onUpgradeGone(*pending);
      // lws does not always report a connect that dies mid-handshake (a peer that hangs up
      // while we wait for its 101 gets CLOSED_CLIENT_HTTP, not CONNECTION_ERROR): whatever is
      // still unreported when the wsi goes is a failure, and the Client must forget the wsi.
      if (auto* client = static_cast<Client*>(lws_get_opaque_user_data(wsi))) {
        lws_set_opaque_user_data(wsi, nullptr);
        client->onWsiDestroyed(wsi);
      }
      return 0;

    case LWS_CALLBACK_HTTP: {
      Server* server = serverOf(wsi);
      return server ? server->onHttpRequest(wsi) : -1;
    }

    case LWS_CALLBACK_PROTOCOL_DESTROY:
      if (Server* server = serverOf(wsi)) server->onVhostDestroyed();
      return 0;

    default:
      return 0;
  }
}

}  // namespace lwsnode
