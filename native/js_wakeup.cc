#include "js_wakeup.h"

#include <memory>

namespace lwsnode {

bool JsWakeup::open(napi_env env, napi_value fn, OnWake onWake, OnTeardown onTeardown, void* arg) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) return false;
  auto h = std::make_unique<Handle>();
  h->env = env;
  h->onWake = onWake;
  h->onTeardown = onTeardown;
  h->arg = arg;
  napi_value name = nullptr;
  if (napi_create_reference(env, fn, 1, &h->fn) != napi_ok) return false;
  if (napi_create_string_utf8(env, "lwsnode", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, nullptr, name, &h->context) != napi_ok) {
    napi_delete_reference(env, h->fn);
    return false;
  }
  if (uv_async_init(loop, &h->async, &JsWakeup::onAsync) != 0) {
    napi_async_destroy(env, h->context);
    napi_delete_reference(env, h->fn);
    return false;
  }
  h->async.data = h.get();
  // From here the loop owns the handle: only onClosed frees it.
  Handle* raw = h.release();
  napi_add_async_cleanup_hook(env, &JsWakeup::onEnvTeardown, raw, &raw->hook);
  handle_ = raw;
  return true;
}

void JsWakeup::ref() {
  if (handle_) uv_ref(reinterpret_cast<uv_handle_t*>(&handle_->async));
}

void JsWakeup::unref() {
  if (handle_) uv_unref(reinterpret_cast<uv_handle_t*>(&handle_->async));
}

void JsWakeup::close() {
  Handle* h = handle_;
  if (!h) return;
  handle_ = nullptr;
  h->arg = nullptr;  // the owner stopped its threads itself
  startClose(h);
}

void JsWakeup::onAsync(uv_async_t* async) {
  auto* h = static_cast<Handle*>(async->data);
  napi_env env = h->env;
  // A libuv callback is not JS: open the scopes a JS call needs; closing the callback scope
  // runs the microtasks and nextTicks the delivery queued, as after any Node event.
  napi_handle_scope scope = nullptr;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_callback_scope callbackScope = nullptr;
  napi_value fn = nullptr;
  if (napi_open_callback_scope(env, nullptr, h->context, &callbackScope) == napi_ok) {
    if (napi_get_reference_value(env, h->fn, &fn) == napi_ok && fn) h->onWake(env, fn, h->arg);
    // The delivery catches handler errors itself; anything else that escaped it is reported
    // as uncaught, as a thread-safe function would (a no-op while the environment ends).
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value error = nullptr;
      if (napi_get_and_clear_last_exception(env, &error) == napi_ok && error) napi_fatal_exception(env, error);
    }
    napi_close_callback_scope(env, callbackScope);
  }
  napi_close_handle_scope(env, scope);
}

void JsWakeup::onEnvTeardown(napi_async_cleanup_hook_handle /*hook*/, void* data) {
  auto* h = static_cast<Handle*>(data);
  // The environment is going away with the wakeup open: stop whoever signals it first.
  if (h->arg && h->onTeardown) h->onTeardown(h->arg);
  h->arg = nullptr;
  startClose(h);  // the environment waits until onClosed removes the hook
}

void JsWakeup::startClose(Handle* h) {
  if (h->closing) return;
  h->closing = true;
  // Cross-thread: nothing signals any more (the caller joined the I/O thread); after uv_close
  // libuv calls onAsync no more.
  uv_close(reinterpret_cast<uv_handle_t*>(&h->async), &JsWakeup::onClosed);
}

void JsWakeup::onClosed(uv_handle_t* handle) {
  std::unique_ptr<Handle> h(static_cast<Handle*>(handle->data));
  napi_delete_reference(h->env, h->fn);
  napi_async_destroy(h->env, h->context);
  // Unregisters the hook, or (if the environment's teardown started it) tells the
  // environment this asynchronous cleanup is done.
  napi_remove_async_cleanup_hook(h->hook);
}

}  // namespace lwsnode
