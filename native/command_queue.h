// The JS -> I/O thread handoff: a mutex-protected vector that the I/O thread swaps out whole.
//
// The wakeup is our own uv_async_t on the I/O thread's loop (an eventfd write), not
// lws_cancel_service(): that one costs lws a pipe service and an EVENT_WAIT_CANCELLED broadcast
// to every protocol of every vhost, plus an idle-handle turn. Only the first push after a drain
// wakes; JS defers that wake to the end of its turn (an event dispatch, or a microtask after
// sends) so one wakeup carries a whole burst. No push wakes an I/O thread that is awake: it
// looks at the queue once more before it sleeps (takeBeforeSleep / sleep), and if a finished
// turn's commands came meanwhile it takes them then instead of waking itself.
//
// The wakeup is sent after mutex_ is released: the woken I/O thread often runs at once (on the
// same core it preempts the pusher) and takes mutex_ first thing, so waking under it cost a
// futex wait, a futex wake and two more context switches per wakeup. A second, separate lock
// (wakeMutex_) is held only around uv_async_send and by detach(), so uv_async_send can never
// run on a handle that is being closed, and the I/O thread never waits for it otherwise.
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
  // I/O thread, last thing before polling. True: from now on pushes wake it. False (only if
  // `mayStayAwake`): a wakeup was asked for since takeBeforeSleep and nobody sent it (we were
  // awake): the thread stays awake and takes those commands now (takeBeforeSleep), which costs
  // no system call. Without `mayStayAwake` it wakes itself instead (its poll returns at once).
  bool sleep(bool mayStayAwake);

  // I/O thread: attach the wakeup once the loop can run its callback (commands pushed before
  // are drained then), detach before closing it (later pushes are refused and never wake).
  void attach(uv_async_t* wake);
  void detach();

 private:
  bool askWakeLocked();  // under mutex_: true if the caller must sendWake() once it unlocked
  void sendWake();       // not under mutex_

  std::mutex mutex_;
  std::vector<Command> commands_;
  bool attached_ = false;      // under mutex_: a wakeup handle is attached
  bool wakeInFlight_ = false;  // under mutex_
  std::atomic<bool> ioAwake_{false};  // written by the I/O thread; read by pushes under mutex_
  // A wakeup was asked for (a JS turn ended) since the last take; written under mutex_.
  std::atomic<bool> wakeWanted_{false};
  bool closed_ = false;

  std::mutex wakeMutex_;        // held around uv_async_send and while (de)attaching
  uv_async_t* wake_ = nullptr;  // under wakeMutex_: null until attached, after detach
};

}  // namespace lwsnode
