#include "command_queue.h"

#include <libwebsockets.h>

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

std::vector<Command> CommandQueue::takeAll() {
  std::vector<Command> out;
  std::lock_guard<std::mutex> lock(mutex_);
  out.swap(commands_);
  wakeWanted_.store(false, std::memory_order_relaxed);
  wakeInFlight_ = false;
  return out;
}

std::vector<Command> CommandQueue::takeBeforeSleep() {
  std::vector<Command> out;
  // Only a finished JS turn's commands (a wakeup was asked for): commands of a turn still in
  // progress (deferred sends) wait for its flushWake, so the turn stays one batch.
  if (!wakeWanted_.load(std::memory_order_acquire)) return out;  // the usual case: no lock
  std::lock_guard<std::mutex> lock(mutex_);
  out.swap(commands_);
  wakeWanted_.store(false, std::memory_order_relaxed);
  return out;
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

void CommandQueue::attach(lws_context* cx) {
  std::lock_guard<std::mutex> lock(mutex_);
  context_ = cx;
  wakeInFlight_ = false;
  if (!commands_.empty()) wakeLocked();
}

void CommandQueue::detach() {
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
  context_ = nullptr;
}

void CommandQueue::wakeLocked() {
  // Cross-thread (seq_cst, paired with sleep()): an awake I/O thread takes the queue in its
  // prepare phase, before it polls again, and needs no wakeup.
  wakeWanted_.store(true, std::memory_order_seq_cst);
  if (wakeInFlight_ || !context_ || ioAwake_.load(std::memory_order_seq_cst)) return;
  wakeInFlight_ = true;
  // Cross-thread: writes lws's wakeup pipe; the I/O thread drains in EVENT_WAIT_CANCELLED.
  lws_cancel_service(context_);
}

}  // namespace lwsnode
