// Batches into JS values: what one delivery hands JS's dispatch (binding.cc deliver()).
// JS thread only.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "event_batch.h"

namespace lwsnode {

// The reusable inbox (event_batch.h: Inbox) that JS reads without any Node-API call; JS makes
// the message Buffers itself (lib/inbox.ts). Only payloads of EventBatch::kLargePayload or
// more cost one external Buffer each (copying them would cost more than the call).
class JsInbox {
 public:
  // Packs `batches` (taking their large payloads) and fills argv[0] with the inbox when it had
  // to grow (JS adopts the new one) and argv[1] with the array of large payloads, if any; both
  // stay as given otherwise. False when a Node-API call failed (the environment is ending).
  bool pack(napi_env env, std::vector<EventBatch>& batches, napi_value argv[2]);
  // After the dispatch: an inbox a burst grew beyond kKeepBytes is let go (JS drops it too)
  // rather than kept for ever.
  void trim();

  // It starts at this size, growing in powers of two; one grown beyond kKeepBytes by a burst is
  // dropped after that delivery (lib/inbox.ts mirrors kKeepBytes).
  static constexpr size_t kBytes = 64 * 1024;
  static constexpr size_t kKeepBytes = 1024 * 1024;

 private:
  Napi::Reference<Napi::ArrayBuffer> buffer_;  // JS holds it too
  uint8_t* data_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace lwsnode
