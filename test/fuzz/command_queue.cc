// Fuzzes the JS -> I/O thread command queue (native/command_queue.cc) with any sequence of
// push / flushWake / takeAll / attach / detach / markAwake / takeBeforeSleep / sleep, against a
// model:
//  - takeAll returns every accepted command once, in push order, with its frame still owned
//    (frames are refcounted: ASan and LeakSanitizer catch a double release or a leak),
//  - uv_async_send (the wakeup) runs only while attached, at most once until the next
//    takeAll, never after detach, and never while the I/O thread is awake (markAwake until
//    sleep); sleep() wakes at once if commands arrived while it was awake, or (if it may)
//    returns false and stays awake, sending nothing,
//  - takeBeforeSleep returns what is queued, in order, like takeAll, but only once a wakeup was
//    asked for (a push without defer, or flushWake) since the last take,
//  - after detach every push is refused.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <string>
#include <vector>

#include "../../native/command_queue.h"

namespace {
int g_wakes = 0;
uv_async_t g_handle;  // never touched: the mock below only compares its address
uv_async_t* g_attached = nullptr;
}  // namespace

// The queue's one libuv call, counted instead of made (the fuzzer links no libuv).
extern "C" int uv_async_send(uv_async_t* async) {
  if (async != &g_handle || g_attached != &g_handle) std::abort();  // only the attached handle
  ++g_wakes;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lwsnode::CommandQueue q;
  std::deque<uint32_t> model;  // slots of queued commands, in order
  bool attached = false, closed = false, inFlight = false, awake = false, wanted = false;
  uint32_t next = 0;
  g_wakes = 0;
  g_attached = nullptr;
  std::vector<lwsnode::Command> got;
  for (size_t i = 0; i < size; ++i) {
    const uint8_t op = data[i];
    const int wakesBefore = g_wakes;
    switch (op % 8) {
      case 0:
      case 1: {  // push, wake deferred when op's bit 3 is set
        lwsnode::Command cmd(lwsnode::CommandType::Send);
        cmd.slot = next;
        cmd.frame = lwsnode::Frame::create(lwsnode::Opcode::Binary, op >> 3);
        cmd.text.assign(op >> 4, 't');
        const bool defer = op & 8;
        const bool accepted = q.push(std::move(cmd), defer);
        if (accepted == closed) std::abort();
        if (accepted) model.push_back(next++);
        if (accepted && !defer) wanted = true;
        const bool shouldWake = accepted && !defer && attached && !inFlight && !awake;
        if ((g_wakes - wakesBefore) != (shouldWake ? 1 : 0)) std::abort();
        if (shouldWake) inFlight = true;
        break;
      }
      case 2: {  // JS: flush a deferred wake
        q.flushWake();
        if (!model.empty()) wanted = true;
        const bool shouldWake = !model.empty() && attached && !inFlight && !awake;
        if ((g_wakes - wakesBefore) != (shouldWake ? 1 : 0)) std::abort();
        if (shouldWake) inFlight = true;
        break;
      }
      case 3:    // I/O thread: drain after a wakeup
      case 6: {  // I/O thread: drain what came while it was awake (before sleeping)
        got.clear();
        if (op % 8 == 3)
          q.takeAll(got);
        else
          q.takeBeforeSleep(got);
        if (got.size() != (op % 8 == 3 || wanted ? model.size() : 0)) std::abort();
        for (const lwsnode::Command& c : got) {
          if (c.slot != model.front() || !c.frame) std::abort();
          model.pop_front();
        }
        if (op % 8 == 3) inFlight = false;
        if (op % 8 == 3 || wanted) wanted = false;
        if (g_wakes != wakesBefore) std::abort();
        break;
      }
      case 5:  // I/O thread: running callbacks
        q.markAwake();
        awake = true;
        if (g_wakes != wakesBefore) std::abort();
        break;
      case 7: {  // I/O thread: about to poll (may stay awake when op's bit 3 is set)
        const bool mayStay = op & 8;
        const bool slept = q.sleep(mayStay);
        const bool waiting = wanted && !model.empty();
        if (slept != !(mayStay && waiting)) std::abort();
        awake = !slept;  // staying awake: pushes still never wake it
        const bool shouldWake = slept && waiting && attached && !inFlight;
        if ((g_wakes - wakesBefore) != (shouldWake ? 1 : 0)) std::abort();
        if (shouldWake) inFlight = true;
        break;
      }
      case 4:
        if (op & 8) {
          if (!closed) {
            g_attached = &g_handle;  // attach: queued commands wake at once
            q.attach(&g_handle);
            attached = true;
            if (!model.empty()) wanted = true;
            const bool shouldWake = !model.empty() && !awake;
            if ((g_wakes - wakesBefore) != (shouldWake ? 1 : 0)) std::abort();
            inFlight = shouldWake;
          }
        } else {
          q.detach();
          g_attached = nullptr;
          attached = false;
          closed = true;
        }
        break;
    }
  }
  return 0;  // q's destructor frees whatever is still queued
}
