// Reading JS send arguments into native frames: shared by the reactor's own sends and by
// publishers on other threads (publisher.cc), so every path copies JS bytes exactly once.
#pragma once

#include <node_api.h>

#include <cstddef>
#include <cstdint>

#include "frame.h"

namespace lwsnode {

// Bytes of a Buffer/TypedArray/DataView argument; false if it is none of those.
bool viewBytes(napi_env env, napi_value v, const uint8_t** data, size_t* len);

// The one copy from JS memory: a string's UTF-8 or a view's bytes, framed with `opcode`.
// Throws a JS TypeError for other values (via node-addon-api). A large frame is built in a
// block of `pool` when one is given (the reactor's own sends; see large_block_pool.h).
FrameRef frameFrom(napi_env env, napi_value data, Opcode opcode, LargeBlockPool* pool = nullptr);

}  // namespace lwsnode
