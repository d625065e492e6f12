#include "js_frame.h"

#include <napi.h>

#include <cstring>

namespace lwsnode {

bool viewBytes(napi_env env, napi_value v, const uint8_t** data, size_t* len) {
  bool is = false;
  void* ptr = nullptr;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t count;
    napi_value ab;
    size_t offset;
    napi_get_typedarray_info(env, v, &type, &count, &ptr, &ab, &offset);
    static const size_t kElem[] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8};  // napi_typedarray_type order
    *len = count * (type <= napi_bigint64_array ? kElem[type] : 1);
  } else if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    napi_value ab;
    size_t offset;
    napi_get_dataview_info(env, v, len, &ptr, &ab, &offset);
  } else {
    return false;
  }
  *data = static_cast<const uint8_t*>(ptr);
  return true;
}

FrameRef frameFrom(napi_env env, napi_value data, Opcode opcode, LargeBlockPool* pool) {
  napi_valuetype type;
  napi_typeof(env, data, &type);
  FrameRef frame;
  if (type == napi_string) {
    size_t len = 0;
    napi_get_value_string_utf8(env, data, nullptr, 0, &len);
    frame = pool ? Frame::create(*pool, opcode, len) : Frame::create(opcode, len);
    if (!frame) throw Napi::Error::New(env, "out of memory");
    size_t copied = 0;
    napi_get_value_string_utf8(env, data, reinterpret_cast<char*>(frame->payload()), len + 1, &copied);
  } else {
    const uint8_t* bytes = nullptr;
    size_t len = 0;
    if (!viewBytes(env, data, &bytes, &len)) throw Napi::TypeError::New(env, "data must be a string or an ArrayBufferView");
    frame = pool ? Frame::create(*pool, opcode, len) : Frame::create(opcode, len);
    if (!frame) throw Napi::Error::New(env, "out of memory");
    if (len) std::memcpy(frame->payload(), bytes, len);
  }
  return frame;
}

}  // namespace lwsnode
