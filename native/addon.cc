// Module entry: exports the Reactor class. Loaded once per JS environment (main thread and
// each worker); every Reactor carries its own loop and context, so nothing here is shared.
#include <libwebsockets.h>
#include <napi.h>

#include "binding.h"
#include "publisher.h"

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  // lws's process-wide fallback logger (used before a context has its own) prints to stderr;
  // mute it. Idempotent, so every environment may do it.
  lws_set_log_level(0, nullptr);
  exports.Set("Reactor", lwsnode::JsReactor::define(env));
  exports.Set("Publisher", lwsnode::JsPublisher::define(env));
  exports.Set("lwsVersion", Napi::String::New(env, lws_get_library_version()));
  return exports;
}

}  // namespace

NODE_API_MODULE(lwsnode, init)
