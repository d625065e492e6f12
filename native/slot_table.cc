#include "slot_table.h"


namespace lwsnode {

uint32_t SlotTable::acquire() {
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.front();
    free_.pop_front();
  } else {
    slot = static_cast<uint32_t>(entries_.size());
    if (slot % CounterChunk::kSize == 0) {
      auto chunk = std::make_shared<CounterChunk>();
      chunkPtrs_.push_back(chunk.get());
      std::lock_guard<std::mutex> lock(chunksMutex_);
      chunks_.push_back(std::move(chunk));
    }
    entries_.push_back(nullptr);
    awaitingRelease_.push_back(false);
  }
  entries_[slot] = nullptr;
  counter(slot).store(0, std::memory_order_relaxed);
  return slot;
}

void SlotTable::vacate(uint32_t slot) {
  entries_[slot] = nullptr;
  awaitingRelease_[slot] = true;
}

void SlotTable::release(uint32_t slot) {
  if (slot >= entries_.size() || !awaitingRelease_[slot]) return;
  awaitingRelease_[slot] = false;
  free_.push_back(slot);
}

std::shared_ptr<CounterChunk> SlotTable::chunk(uint32_t index) {
  std::lock_guard<std::mutex> lock(chunksMutex_);
  return index < chunks_.size() ? chunks_[index] : nullptr;
}

}  // namespace lwsnode
