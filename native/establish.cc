// A completed handshake, server or client side: one slot, one Open event, one Connection.
#include "reactor.h"

#include "connection.h"
#include "server.h"

namespace lwsnode {

Connection* Reactor::establish(lws* wsi, Connection** pss, uint32_t owner, uint32_t b, const std::string& text,
                               Server* server, const ConnectionLimits& limits, ServerStats& stats,
                               Deflater* deflater) {
  const uint32_t slot = slots_.acquire();
  if (server) server->announcePeer(wsi, slot, false);  // mTLS: the client's certificate, before its Open
  if (!pending_.pushCopy(EventType::Open, slot, owner, text.data(), text.size())) {
    slots_.vacate(slot);
    slots_.release(slot);
    return nullptr;
  }
  pending_.records.back().b = b;
  auto conn = std::make_unique<Connection>(*this, server, limits, stats, wsi, slot);
  if (deflater) conn->enableDeflate(*deflater);
  slots_.attach(slot, conn.get());
  if (server) server->onConnectionOpened(*conn);
  *pss = conn.release();  // owned by the wsi until CLOSED (or CLIENT_CLOSED)
  return *pss;
}

}  // namespace lwsnode
