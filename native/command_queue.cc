#include "command_queue.h"

namespace lwsnode {

bool CommandQueue::push(Command&& cmd, bool deferWake) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return false;
    commands_.push_back(std::move(cmd));
    if (!deferWake) wake = askWakeLocked();
  }
  if (wake) sendWake();
  return true;
}

void CommandQueue::flushWake() {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!commands_.empty()) wake = askWakeLocked();
  }
  if (wake) sendWake();
}

void CommandQueue::takeAll(std::vector<Command>& out) {
  std::lock_guard<std::mutex> lock(mutex_);
  out.swap(commands_);
  wakeWanted_.store(false, std::memory_order_relaxed);
  wakeInFlight_ = false;
}

void CommandQueue::takeBeforeSleep(std::vector<Command>& out) {
  // Only a finished JS turn's commands (a wakeup was asked for): commands of a turn still in
  // progress (deferred sends) wait for its flushWake, so the turn stays one batch.
  if (!wakeWanted_.load(std::memory_order_acquire)) return;  // the usual case: no lock
  std::lock_guard<std::mutex> lock(mutex_);
  out.swap(commands_);
  wakeWanted_.store(false, std::memory_order_relaxed);
}

bool CommandQueue::sleep(bool mayStayAwake) {
  // Dekker-style with askWakeLocked(): we clear ioAwake_ then read wakeWanted_; a waker sets
  // wakeWanted_ then reads ioAwake_ (all seq_cst), so either it sees us asleep and wakes us,
  // or we see its request here.
  ioAwake_.store(false, std::memory_order_seq_cst);
  if (!wakeWanted_.load(std::memory_order_seq_cst)) return true;
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (commands_.empty()) return true;
    if (mayStayAwake) {
      // Pushers read ioAwake_ under mutex_: from here they leave the commands to us again. (One
      // that saw it clear a moment ago has sent a wakeup: a spurious turn, harmless.)
      ioAwake_.store(true, std::memory_order_relaxed);
      return false;
    }
    wake = askWakeLocked();  // it saw us awake and did not wake us
  }
  if (wake) sendWake();
  return true;
}

void CommandQueue::attach(uv_async_t* wake) {
  {
    std::lock_guard<std::mutex> lock(wakeMutex_);
    wake_ = wake;
  }
  bool wakeNow = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    attached_ = true;
    wakeInFlight_ = false;
    if (!commands_.empty()) wakeNow = askWakeLocked();
  }
  if (wakeNow) sendWake();
}

void CommandQueue::detach() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    attached_ = false;
  }
  // Waits for a uv_async_send in progress; none starts after this.
  std::lock_guard<std::mutex> lock(wakeMutex_);
  wake_ = nullptr;
}

bool CommandQueue::askWakeLocked() {
  // Cross-thread (seq_cst, paired with sleep()): an awake I/O thread takes the queue in its
  // prepare phase, before it polls again, and needs no wakeup.
  wakeWanted_.store(true, std::memory_order_seq_cst);
  if (wakeInFlight_ || !attached_ || ioAwake_.load(std::memory_order_seq_cst)) return false;
  wakeInFlight_ = true;
  return true;
}

void CommandQueue::sendWake() {
  // Cross-thread: uv_async_send is the one libuv call safe from any thread (an eventfd write);
  // the I/O thread drains in Reactor::onWake. Under wakeMutex_ only, so detach() waits for it.
  std::lock_guard<std::mutex> lock(wakeMutex_);
  if (wake_) uv_async_send(wake_);
}

}  // namespace lwsnode
