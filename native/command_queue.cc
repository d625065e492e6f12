#include "command_queue.h"


namespace lwsnode {

bool CommandQueue::push(Command&& cmd, bool deferWake) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) return false;
  commands_.push_back(std::move(cmd));
  if (!deferWake) wakeLocked();
  return true;
}

void CommandQueue::flushWake() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!commands_.empty()) wakeLocked();
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

void CommandQueue::sleep() {
  // Dekker-style with wakeLocked(): we clear ioAwake_ then read wakeWanted_; a waker sets
  // wakeWanted_ then reads ioAwake_ (all seq_cst), so either it sees us asleep and wakes us,
  // or we see its request here.
  ioAwake_.store(false, std::memory_order_seq_cst);
  if (!wakeWanted_.load(std::memory_order_seq_cst)) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (!commands_.empty()) wakeLocked();  // it saw us awake and did not wake us
}

void CommandQueue::attach(uv_async_t* wake) {
  std::lock_guard<std::mutex> lock(mutex_);
  wake_ = wake;
  wakeInFlight_ = false;
  if (!commands_.empty()) wakeLocked();
}

void CommandQueue::detach() {
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
  wake_ = nullptr;
}

void CommandQueue::wakeLocked() {
  // Cross-thread (seq_cst, paired with sleep()): an awake I/O thread takes the queue in its
  // prepare phase, before it polls again, and needs no wakeup.
  wakeWanted_.store(true, std::memory_order_seq_cst);
  if (wakeInFlight_ || !wake_ || ioAwake_.load(std::memory_order_seq_cst)) return;
  wakeInFlight_ = true;
  // Cross-thread: uv_async_send is the one libuv call safe from any thread (an eventfd write);
  // the I/O thread drains in Reactor::onWake. Under mutex_, so detach() waits for it.
  uv_async_send(wake_);
}

}  // namespace lwsnode
