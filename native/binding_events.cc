// Batches into JS values (binding_events.h). Raw Node-API calls, each checked: see binding.cc.
#include "binding_events.h"

#include <cstdlib>

namespace lwsnode {

namespace {

void freeBlock(napi_env /*env*/, void* data, void* /*hint*/) { std::free(data); }

// Cross-thread: the block was taken on the I/O thread; V8 collected JS's last view of it, and
// it goes back to its reactor's pool from here, the JS thread (LargeBlockPool locks).
void givePooledBlock(napi_env /*env*/, void* data, void* /*hint*/) { LargeBlockPool::give(static_cast<uint8_t*>(data)); }

// An external Buffer over `payload`'s storage, which it then owns (released from `payload`);
// on failure the storage is freed.
bool externalBuffer(napi_env env, Bytes& payload, napi_value* out) {
  const size_t len = payload.size();
  const bool pooled = payload.pooled();
  uint8_t* block = payload.release();
  if (napi_create_external_buffer(env, len, block, pooled ? &givePooledBlock : &freeBlock, nullptr, out) == napi_ok)
    return true;
  if (pooled) LargeBlockPool::give(block);
  else std::free(block);
  return false;
}

}  // namespace

bool JsInbox::pack(napi_env env, std::vector<EventBatch>& batches, napi_value argv[2]) {
  size_t large = 0;
  for (const EventBatch& b : batches) large += b.large.size();
  const size_t need = Inbox::bytesFor(batches);
  if (need > capacity_) {
    size_t cap = kBytes;
    while (cap < need) cap *= 2;
    void* data = nullptr;
    if (napi_create_arraybuffer(env, cap, &data, &argv[0]) != napi_ok) return false;
    buffer_.Reset();
    buffer_ = Napi::Reference<Napi::ArrayBuffer>::New(Napi::ArrayBuffer(env, argv[0]), 1);
    data_ = static_cast<uint8_t*>(data);
    capacity_ = cap;
  }
  Inbox::pack(batches, data_);
  if (large == 0) return true;
  if (napi_create_array_with_length(env, large, &argv[1]) != napi_ok) return false;
  uint32_t index = 0;
  for (EventBatch& b : batches) {
    for (size_t i = 0; i < b.large.size(); ++i, ++index) {
      napi_value buf = nullptr;
      if (!externalBuffer(env, b.large[i], &buf) || napi_set_element(env, argv[1], index, buf) != napi_ok)
        return false;
    }
  }
  return true;
}

void JsInbox::trim() {
  if (capacity_ <= kKeepBytes) return;
  buffer_.Reset();
  data_ = nullptr;
  capacity_ = 0;
}

}  // namespace lwsnode
