// permessage-deflate negotiation on the server side (RFC 7692 section 7): which of a client's
// offers we accept, and what the response says. Pure parsing, no lws.
#pragma once

#include <cstdint>
#include <string>

namespace lwsnode {

struct PmdAgreement {
  std::string response;            // the Sec-WebSocket-Extensions element we answer
  bool clientNoContextTakeover = false;
  // Our outgoing window: the client's server_max_window_bits, else 15. With 8 we accept but
  // never compress (zlib's raw deflate has no 8-bit window; uncompressed messages are valid).
  int serverWindowBits = 15;
};

// Walks the offers in `header` (the request's Sec-WebSocket-Extensions, several header lines
// joined by commas) and accepts the first valid permessage-deflate offer. An offer with an
// unknown or repeated parameter, a value on a *_no_context_takeover, or a window outside
// 8..15 is declined and the next one tried. Returns false when none is acceptable.
bool choosePmdOffer(const std::string& header, PmdAgreement& out);

// Client side (RFC 7692 5, 7.1): whether a server's Sec-WebSocket-Extensions answer to our
// offer ("permessage-deflate; client_no_context_takeover; client_max_window_bits") is one we
// may go on with: at most one permessage-deflate element, nothing else, known parameters once
// each, windows of 8..15 (a value required in a response), none on *_no_context_takeover.
// An empty header (declined) is valid.
bool validPmdResponse(const std::string& header);

// Client side, for a response validPmdResponse accepted: the window we compress with, the
// client_max_window_bits the server answered (9..15), else 15; 0 means sending uncompressed
// (always allowed): no extension, or a window of 8, which zlib's raw deflate cannot produce.
int pmdClientWindow(const std::string& header);

}  // namespace lwsnode
