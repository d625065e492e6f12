// Fuzzes connection slot bookkeeping (native/slot_table.cc) with any sequence of acquire /
// attach / vacate / release / get / counter, against a model:
//  - acquire never hands out a slot that is live or still waiting for JS's release,
//  - a fresh slot has no owner and a zero counter, and get() names exactly the attached owner,
//  - release only frees a vacated slot (a stray or repeated release is ignored),
//  - every counter JS can map through chunk() is the same memory the I/O thread writes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <vector>

#include "../../native/slot_table.h"

namespace {
enum class State { Live, Vacated, Free };
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lwsnode::SlotTable t;
  std::map<uint32_t, State> model;
  std::vector<uint32_t> known;  // every slot ever handed out
  auto pick = [&](uint8_t b) -> uint32_t { return known.empty() ? b : known[b % known.size()]; };
  auto owner = [](uint32_t s) { return reinterpret_cast<lwsnode::Connection*>(uintptr_t{0x10} * (s + 1)); };
  for (size_t i = 0; i + 1 < size; i += 2) {
    const uint8_t op = data[i], arg = data[i + 1];
    switch (op % 6) {
      case 0:
      case 1: {  // acquire (+ attach, as ESTABLISHED does), sometimes in bursts to cross chunks
        const int burst = (op & 0x80) ? 300 : 1;
        for (int k = 0; k < burst; ++k) {
          const uint32_t s = t.acquire();
          auto it = model.find(s);
          if (it != model.end() && it->second != State::Free) std::abort();
          if (t.get(s) != nullptr || t.counter(s).load() != 0) std::abort();
          t.attach(s, owner(s));
          t.counter(s).store(arg + 1.0);
          if (it == model.end()) known.push_back(s);
          model[s] = State::Live;
        }
        break;
      }
      case 2: {  // the connection closed
        const uint32_t s = pick(arg);
        auto it = model.find(s);
        if (it == model.end() || it->second != State::Live) break;  // vacate is only called for live slots
        t.vacate(s);
        it->second = State::Vacated;
        break;
      }
      case 3: {  // JS released a slot (possibly a stray or repeated release)
        const uint32_t s = (op & 0x40) ? arg * 977u : pick(arg);
        t.release(s);
        auto it = model.find(s);
        if (it != model.end() && it->second == State::Vacated) it->second = State::Free;
        break;
      }
      case 4: {  // lookups, including far out of range
        const uint32_t s = (op & 0x40) ? 0xFFFFFFF0u + (arg & 0xF) : pick(arg);
        auto it = model.find(s);
        lwsnode::Connection* want = (it != model.end() && it->second == State::Live) ? owner(s) : nullptr;
        if (t.get(s) != want) std::abort();
        break;
      }
      case 5: {  // JS maps the counter chunk of a slot and sees the I/O thread's value
        if (known.empty()) break;
        const uint32_t s = pick(arg);
        auto chunk = t.chunk(s / lwsnode::CounterChunk::kSize);
        if (!chunk) std::abort();
        if (&chunk->values[s % lwsnode::CounterChunk::kSize] != &t.counter(s)) std::abort();
        if (t.chunk(0xFFFF)) std::abort();
        break;
      }
    }
  }
  return 0;
}
