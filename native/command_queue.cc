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
  wakeInFlight_ = false;
  return out;
}

std::vector<Command> CommandQueue::takeBeforeSleep() {
  std::vector<Command> out;
  std::lock_guard<std::mutex> lock(mutex_);
  out.swap(commands_);
  return out;
}

void CommandQueue::sleep() {
  std::lock_guard<std::mutex> lock(mutex_);
  ioAwake_.store(false, std::memory_order_relaxed);
  // A push since takeBeforeSleep saw us awake and did not wake us: do it now.
  if (!commands_.empty()) wakeLocked();
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
  // Awake: the I/O thread takes the queue in its prepare phase, before it polls again.
  if (wakeInFlight_ || !context_ || ioAwake_.load(std::memory_order_relaxed)) return;
  wakeInFlight_ = true;
  // Cross-thread: writes lws's wakeup pipe; the I/O thread drains in EVENT_WAIT_CANCELLED.
  lws_cancel_service(context_);
}

}  // namespace lwsnode
