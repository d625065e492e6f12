// The JS -> I/O thread handoff: a mutex-protected vector that the I/O thread swaps out whole.
//
// Waking is part of the queue so that it happens under the same lock as destruction: the I/O
// thread detaches the context (detach()) before destroying it, so lws_cancel_service() can
// never run on a context that is going away. Only the first push after a drain wakes; JS may
// defer that wake to the end of an event dispatch so one wakeup carries a whole burst.
#pragma once

#include <mutex>
#include <utility>
#include <vector>

#include "command.h"

struct lws_context;

namespace lwsnode {

class CommandQueue {
 public:
  // JS thread. False when the reactor is being destroyed (the command is dropped).
  bool push(Command&& cmd, bool deferWake);

  // JS thread: wake the I/O thread if commands wait and no wakeup is in flight.
  void flushWake();

  // I/O thread: takes everything queued so far; the next push wakes it again.
  std::vector<Command> takeAll();

  // I/O thread: attach once the context exists (commands pushed before are drained then),
  // detach before destroying it (later pushes are refused and never wake).
  void attach(lws_context* cx);
  void detach();

 private:
  void wakeLocked();

  std::mutex mutex_;
  std::vector<Command> commands_;
  lws_context* context_ = nullptr;
  bool wakeInFlight_ = false;
  bool closed_ = false;
};

}  // namespace lwsnode
