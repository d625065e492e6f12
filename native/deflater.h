// permessage-deflate (RFC 7692) for outgoing messages: one compressor per server, used only on
// the I/O thread.
//
// Every message is compressed on its own (the stream is reset after each one), so it never
// refers to an earlier message: that is "no context takeover" on our side, which any client
// accepts whatever it negotiated, and it is what lets one compressed frame be shared by every
// subscriber of a publish (compressed once, not once per socket). Inbound messages are
// inflated by lws's own permessage-deflate extension, which also negotiates the parameters.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "frame.h"

namespace lwsnode {

class Deflater {
 public:
  // `level` is zlib's 0-9, `windowBits` 9-15 (the peer's server_max_window_bits, or for a
  // client its client_max_window_bits); memory: up to 256 KiB of zlib state (15 bits),
  // allocated on first use.
  Deflater(int level, int windowBits) : level_(level), windowBits_(windowBits) {}
  ~Deflater();
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  // The compressed twin of `frame` for this window size (RSV1 set, accounted as the
  // original), built on first request and cached on the frame, so every receiver with the
  // same window shares it; an empty ref when compression does not make the message
  // smaller or fails, in which case the frame goes out as it is.
  FrameRef deflated(Frame& frame);

 private:
  bool compress(const uint8_t* in, size_t len);  // into out_

  int level_;
  int windowBits_;
  bool ready_ = false;
  z_stream zs_{};
  std::vector<uint8_t> out_;  // reused output; compressed bytes are copied once into their frame
};

}  // namespace lwsnode
