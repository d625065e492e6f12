// The I/O thread -> JS wakeup: a uv_async_t on the JS environment's own loop whose callback
// runs a delivery inside a callback scope (so microtasks and nextTicks run after it, as after
// any event), in place of a Node-API thread-safe function.
//
// Why not a thread-safe function: its call holds the function's mutex while it writes the
// loop's eventfd, and the JS side takes that mutex first thing when it wakes. The woken JS
// thread usually runs at once (on one core it preempts the I/O thread inside that write), so
// every wakeup cost a futex wait on the JS thread, a futex wake on the I/O thread and two more
// context switches, plus the function's queue (a lock, a push and a pop per call). Here a
// wakeup is one uv_async_send() and nothing else: the batches themselves are handed over by
// EventOutbox, under its own lock, which neither thread holds while waking the other.
//
// Teardown: the handle belongs to the JS loop and must be closed on the JS thread before that
// loop is closed. close() (after the threads that signal are joined) starts that; if the
// environment goes away first, an async cleanup hook stops the signalling threads (through
// `onTeardown`) and closes the handle, and the environment waits for the close to finish.
#pragma once

#include <node_api.h>
#include <uv.h>

namespace lwsnode {

class JsWakeup {
 public:
  using OnWake = void (*)(napi_env env, napi_value fn, void* arg);
  using OnTeardown = void (*)(void* arg);

  JsWakeup() = default;
  ~JsWakeup() { close(); }
  JsWakeup(const JsWakeup&) = delete;
  JsWakeup& operator=(const JsWakeup&) = delete;

  // JS thread: each wakeup calls `onWake(env, fn, arg)` in a callback scope; `onTeardown(arg)`
  // runs if the environment is torn down while the wakeup is open, and must stop every thread
  // that may call signal(). The handle starts referenced (it keeps the loop alive). False if
  // the loop or the function could not be reached.
  bool open(napi_env env, napi_value fn, OnWake onWake, OnTeardown onTeardown, void* arg);

  // Any thread, between open() and close(): the next loop iteration of the JS thread runs
  // onWake; wakeups sent before it runs are merged into one.
  void signal() {
    if (handle_) uv_async_send(&handle_->async);
  }

  // JS thread: whether the wakeup keeps the loop (and the process) alive.
  void ref();
  void unref();

  // JS thread; idempotent. The caller has stopped every thread that may signal().
  void close();

 private:
  // Outlives this object until libuv has finished closing it (or the environment's cleanup
  // has), so it is a separate allocation owned by the loop once closing starts.
  struct Handle {
    uv_async_t async{};
    napi_env env = nullptr;
    napi_ref fn = nullptr;
    napi_async_context context = nullptr;
    napi_async_cleanup_hook_handle hook = nullptr;
    OnWake onWake = nullptr;
    OnTeardown onTeardown = nullptr;
    void* arg = nullptr;  // null once close() began: onTeardown has nothing left to stop
    bool closing = false;
  };
  static void onAsync(uv_async_t* async);
  static void onEnvTeardown(napi_async_cleanup_hook_handle hook, void* data);
  static void startClose(Handle* h);
  static void onClosed(uv_handle_t* handle);

  Handle* handle_ = nullptr;  // JS thread; read by signal() (the I/O thread is joined first)
};

}  // namespace lwsnode
