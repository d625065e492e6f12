// A connection's outbound frames, oldest first: a ring of owned frame references. I/O thread only.
//
// Cheaper per frame than a vector written from a head index: a pop releases one reference and
// moves the head, with no pass over spent slots when the queue empties (a publish to 1,000
// subscribers is 1,000 pushes and 1,000 pops). Storage is allocated on the first push, doubles
// when full, and is let go when the queue empties after a burst that grew it past kKept, so an
// idle connection does not keep the memory of its busiest moment.
#pragma once

#include <cstdint>
#include <memory>

#include "frame.h"

namespace lwsnode {

class FrameRing {
 public:
  FrameRing() = default;
  ~FrameRing() { clear(); }
  FrameRing(const FrameRing&) = delete;
  FrameRing& operator=(const FrameRing&) = delete;

  bool empty() const { return count_ == 0; }
  uint32_t size() const { return count_; }
  // The oldest frame; the queue must not be empty.
  Frame& front() const { return *slots_[head_]; }
  // The frame `i` places after the oldest (i < size()).
  Frame& at(uint32_t i) const { return *slots_[(head_ + i) & mask_]; }

  // Appends another reference to `frame` (non-null).
  void push(const FrameRef& frame) {
    if (count_ == capacity()) grow();
    slots_[(head_ + count_) & mask_] = frame.share();
    ++count_;
  }

  // Drops the oldest frame (the queue must not be empty).
  void pop() {
    FrameRef spent(slots_[head_]);  // adopts the ring's reference; released on return
    head_ = (head_ + 1) & mask_;
    if (--count_ == 0) {
      head_ = 0;
      if (capacity() > kKept) release();
    }
  }

  void clear() {
    while (count_ != 0) pop();
  }

 private:
  static constexpr uint32_t kFirst = 8;
  static constexpr uint32_t kKept = 1024;

  uint32_t capacity() const { return slots_ ? mask_ + 1 : 0; }
  void release() {
    slots_.reset();
    mask_ = 0;
  }
  [[gnu::noinline]] void grow() {  // rare: kept out of push(), which is inlined per delivery
    const uint32_t cap = capacity() ? capacity() * 2 : kFirst;
    auto slots = std::make_unique<Frame*[]>(cap);
    for (uint32_t i = 0; i < count_; ++i) slots[i] = slots_[(head_ + i) & mask_];
    slots_ = std::move(slots);
    head_ = 0;
    mask_ = cap - 1;
  }

  std::unique_ptr<Frame*[]> slots_;  // capacity() slots, a power of two; count_ of them live from head_
  uint32_t head_ = 0;
  uint32_t count_ = 0;
  uint32_t mask_ = 0;
};

}  // namespace lwsnode
