// Recycled memory for large payloads (16 KiB and up), one pool per reactor: the frames JS
// sends (taken on the JS thread, given back by the I/O thread once written) and the inbound
// messages handed to JS as external Buffers (taken on the I/O thread, given back by the
// Buffer's finalizer on the JS thread when V8 collects it).
//
// Why: a 64 KiB echo allocated and freed two 64 KiB blocks per message. glibc serves them from
// the top of its heaps and trims the top again as soon as it is free, so a fresh block was
// fresh pages: page faults and kernel page clearing were a tenth of the server's samples, all
// in the send copy. A block kept here stays mapped and warm in the cache. (glibc's thresholds
// are process-wide, mallopt() would change every thread's allocator: a pool is ours alone.)
//
// Blocks come in size classes of 4 per power of two (at most 25% unused tail, which is never
// touched and so costs no memory). Each block carries a small header in front of the bytes
// handed out: which pool it belongs to (a shared_ptr, so a Buffer kept by JS after its reactor
// is destroyed still finds a live pool, or frees itself) and its class. The pool keeps at most
// kMaxKeptBytes; blocks beyond that, blocks over kMaxPooledBlock and blocks given back after
// close() go straight to free().
//
// Thread safety: take() and give() may be called from any thread; the free lists are guarded
// by one mutex held only to push or pop a pointer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace lwsnode {

class LargeBlockPool : public std::enable_shared_from_this<LargeBlockPool> {
 public:
  static constexpr size_t kMinBlock = 16 * 1024;
  static constexpr size_t kMaxPooledBlock = 512 * 1024;  // larger blocks are not kept
  static constexpr size_t kMaxKeptBytes = 16 * 1024 * 1024;   // the pool's cap

  static std::shared_ptr<LargeBlockPool> create() { return std::make_shared<LargeBlockPool>(Private{}); }

  struct Private {};
  explicit LargeBlockPool(Private) {}
  ~LargeBlockPool();
  LargeBlockPool(const LargeBlockPool&) = delete;
  LargeBlockPool& operator=(const LargeBlockPool&) = delete;

  // A block with room for at least `bytes` (capacity(block) says how many); null when memory
  // is exhausted. Any thread. The block goes back with give().
  uint8_t* take(size_t bytes);
  // Another block from the pool `block` came from (for growing it); null on OOM.
  static uint8_t* takeLike(const uint8_t* block, size_t bytes);
  // Returns a block from take() (any thread): kept for the next take, or freed.
  static void give(uint8_t* block);
  static size_t capacity(const uint8_t* block);

  // The owner is going (reactor destroyed): frees what is kept; blocks given back later are
  // freed. Blocks still out (Buffers JS keeps) stay valid.
  void close();
  // What the pool keeps right now (tests, stats).
  size_t keptBytes() const;

 private:
  static constexpr size_t kClasses = 21;  // 16 KiB .. 512 KiB, 4 per power of two
  static constexpr uint32_t kUnpooled = UINT32_MAX;
  struct Header;
  static Header* headerOf(const uint8_t* block);
  bool keep(uint8_t* block, uint32_t sizeClass, size_t capacity);

  mutable std::mutex mutex_;
  std::array<std::vector<uint8_t*>, kClasses> free_;  // guarded by mutex_
  size_t keptBytes_ = 0;                               // guarded by mutex_
  bool closed_ = false;                                // guarded by mutex_
};

// The reactor's handle on its pool: closes it when the reactor goes.
class LargeBlockPoolOwner {
 public:
  LargeBlockPoolOwner() : pool_(LargeBlockPool::create()) {}
  ~LargeBlockPoolOwner() { pool_->close(); }
  LargeBlockPoolOwner(const LargeBlockPoolOwner&) = delete;
  LargeBlockPoolOwner& operator=(const LargeBlockPoolOwner&) = delete;
  LargeBlockPool& operator*() const { return *pool_; }
  LargeBlockPool* operator->() const { return pool_.get(); }

 private:
  std::shared_ptr<LargeBlockPool> pool_;
};

}  // namespace lwsnode
