// The JS -> I/O thread handoff: a mutex-protected vector that the I/O thread swaps out whole.
//
// Waking is part of the queue so that it happens under the same lock as destruction: the I/O
// thread detaches its wakeup handle (detach()) before closing it, so uv_async_send() can never
// run on a handle that is going away. The wakeup is our own uv_async_t on the I/O thread's loop
// (an eventfd write), not lws_cancel_service(): that one costs lws a pipe service and an
// EVENT_WAIT_CANCELLED broadcast to every protocol of every vhost, plus an idle-handle turn.
// Only the first push after a drain wakes; JS defers that wake to the end of its turn (an event dispatch, or a microtask after sends) so
// one wakeup carries a whole burst. No push wakes an I/O thread that is awake: it looks at the
// queue once more before it sleeps (takeBeforeSleep / sleep).
#pragma once

#include <atomic>
#include <mutex>
#include <utility>
#include <vector>

#include "command.h"

#include <uv.h>

namespace lwsnode {

class CommandQueue {
 public:
  // JS thread. False when the reactor is being destroyed (the command is dropped).
  bool push(Command&& cmd, bool deferWake);

  // JS thread: wake the I/O thread if commands wait and no wakeup is in flight.
  void flushWake();

  // I/O thread: takes everything queued so far into `out` (pass it empty: its storage becomes
  // the queue's, so pushes do not reallocate); the next push wakes it again (unless awake).
  void takeAll(std::vector<Command>& out);

  // I/O thread: it is running callbacks and will pass through its prepare phase (where it
  // calls takeBeforeSleep and sleep) before it polls again, so pushes need not wake it.
  // Lock-free: only sleep() clears it, under the lock, after a last look at the queue.
  void markAwake() { ioAwake_.store(true, std::memory_order_relaxed); }
  // I/O thread, in prepare: what was pushed while it was awake, if a wakeup was asked for
  // (not the deferred sends of a JS turn still running).
  void takeBeforeSleep(std::vector<Command>& out);
  // I/O thread, last thing before polling: from now on pushes wake it; if a wakeup was asked
  // for since takeBeforeSleep, wakes it at once (its poll returns immediately).
  void sleep();

  // I/O thread: attach the wakeup once the loop can run its callback (commands pushed before
  // are drained then), detach before closing it (later pushes are refused and never wake).
  void attach(uv_async_t* wake);
  void detach();

 private:
  void wakeLocked();

  std::mutex mutex_;
  std::vector<Command> commands_;
  uv_async_t* wake_ = nullptr;  // the I/O thread's wakeup; null until attached, after detach
  bool wakeInFlight_ = false;
  std::atomic<bool> ioAwake_{false};  // written by the I/O thread; read by pushes under mutex_
  // A wakeup was asked for (a JS turn ended) since the last take; written under mutex_.
  std::atomic<bool> wakeWanted_{false};
  bool closed_ = false;
};

}  // namespace lwsnode
