// An outgoing WebSocket frame, framed once and owned until the last connection has written it.
//
// Server-to-client frames are unmasked, so the bytes on the wire are identical for every
// receiver: a publish frames its payload once and every subscriber queues the same Frame.
// With permessage-deflate, the compressed form is also built once per frame (see deflater.h)
// and shared by every receiver that negotiated it.
// The payload is copied exactly once, from JS memory into this allocation, which reserves
// LWS_PRE bytes plus the largest frame header in front of it so the header is written in
// place and lws may use the headroom it asks for (a large message's fragments each borrow the
// bytes in front of their part of the payload for their header, see Connection). Client
// connections, whose frames must be masked with a fresh key each, write a masked copy at
// write time instead (see mask.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <utility>
#include <vector>

#include "large_block_pool.h"

namespace lwsnode {

// A server frame header is at most 2 + 8 bytes (no mask key).
constexpr size_t kMaxFrameHeader = 10;

enum class Opcode : uint8_t { Continuation = 0x0, Text = 0x1, Binary = 0x2, Close = 0x8, Ping = 0x9, Pong = 0xA };

class FrameRef;

// Recycled blocks for the small frames the I/O thread makes itself (staged sends, see
// send_batch.h), used and freed on that thread only. A burst frames and frees hundreds at once,
// which glibc serves from its slow paths (its per-thread cache holds 7 per size): callgrind put
// malloc and free at ~400 instructions per echoed small message, a free list at ~20.
class FramePool {
 public:
  static constexpr size_t kBlockBytes = 256;  // frame bookkeeping, headroom, header, payload
  static constexpr size_t kMaxFree = 4096;    // at most 1 MiB kept for the next burst
  FramePool() = default;
  FramePool(const FramePool&) = delete;
  FramePool& operator=(const FramePool&) = delete;
  ~FramePool() {
    for (void* p : free_) std::free(p);
  }
  void* take() {
    if (free_.empty()) return std::malloc(kBlockBytes);
    void* p = free_.back();
    free_.pop_back();
    return p;
  }
  void give(void* p) {
    if (free_.size() < kMaxFree) free_.push_back(p);
    else std::free(p);
  }

 private:
  std::vector<void*> free_;
};

class Frame {
 public:
  // Allocates a frame with room for `payloadLen` payload bytes and writes its header; the
  // caller fills payload(). Returns an empty ref when memory is exhausted.
  // `compressed` sets RSV1: the payload is a permessage-deflate message.
  static FrameRef create(Opcode opcode, size_t payloadLen, bool compressed = false);
  // The same from `pool` when it fits a pool block (I/O thread only: the frame goes back to
  // `pool` when released, which must outlive it).
  static FrameRef create(FramePool& pool, Opcode opcode, size_t payloadLen);
  // The same in a block of `pool` when it is large (LargeBlockPool::kMinBlock or more): JS's
  // sends (any thread; the frame goes back to `pool` when released).
  static FrameRef create(LargeBlockPool& pool, Opcode opcode, size_t payloadLen);

  Opcode opcode() const { return opcode_; }
  bool compressed() const { return compressed_; }
  // What this frame counts for in bufferedAmount and stats: the payload length, or for a
  // compressed frame the length of the message it carries (what JS handed over).
  size_t accountLength() const { return accountLen_; }

  // Set on the JS thread before hand-over: JS allows compressing this message.
  bool compressible() const { return compressible_; }
  void setCompressible(bool on) { compressible_ = on; }
  // The deflated twins, at most one per window size, made on the I/O thread
  // (Deflater::deflated).
  uint8_t* payload() { return payload_; }
  const uint8_t* payload() const { return payload_; }
  size_t payloadLength() const { return payloadLen_; }
  // Header plus payload: what goes on the wire.
  const uint8_t* wire() const { return payload_ - headerLen_; }
  uint8_t* wire() { return payload_ - headerLen_; }
  size_t wireLength() const { return headerLen_ + payloadLen_; }

 private:
  friend class FrameRef;
  friend class Deflater;
  // Builds the frame (header written) at the start of `mem`, a block of blockBytes(payloadLen).
  static Frame* construct(void* mem, Opcode opcode, size_t payloadLen, bool compressed);
  Frame(Opcode opcode, size_t payloadLen, uint8_t* payload, uint8_t headerLen, bool compressed)
      : payloadLen_(payloadLen), accountLen_(payloadLen), payload_(payload), headerLen_(headerLen),
        opcode_(opcode), compressed_(compressed) {}

  // Not atomic: a frame is built on the JS thread and handed over whole through the command
  // queue's mutex; from then on only the I/O thread shares and releases it.
  uint32_t refs_ = 1;
  size_t payloadLen_;
  size_t accountLen_;
  uint8_t* payload_;
  uint8_t headerLen_;
  Opcode opcode_;
  bool compressed_;
  bool compressible_ = false;
  uint8_t window_ = 0;          // a twin: the window bits it was compressed with
  bool largeBlock_ = false;     // the block came from a LargeBlockPool and goes back to it
  uint16_t triedWindows_ = 0;   // bit w: compression with a w-bit window was tried
  // Owned reference (released in ~Frame), I/O thread only: the first deflated twin; each twin
  // links the next (one per distinct window size a publish met).
  Frame* deflated_ = nullptr;
  FramePool* pool_ = nullptr;  // the block came from this pool and goes back to it

 public:
  ~Frame();
};

// Writes a server frame header (FIN, RSV1, opcode, unmasked length) so that it ends exactly at
// `end`; returns its length (2, 4 or 10).
uint8_t writeFrameHeader(uint8_t* end, bool fin, Opcode opcode, size_t payloadLen, bool rsv1 = false);

// Intrusive, move-friendly owner of a Frame (one malloc for header + payload + bookkeeping).
class FrameRef {
 public:
  FrameRef() = default;
  explicit FrameRef(Frame* f) : f_(f) {}
  FrameRef(const FrameRef& o) : f_(o.f_) { if (f_) ++f_->refs_; }
  FrameRef(FrameRef&& o) noexcept : f_(std::exchange(o.f_, nullptr)) {}
  FrameRef& operator=(FrameRef o) noexcept { std::swap(f_, o.f_); return *this; }
  ~FrameRef() { release(); }

  Frame* operator->() const { return f_; }
  Frame& operator*() const { return *f_; }
  explicit operator bool() const { return f_ != nullptr; }
  // Another owner for this frame, as a raw pointer a later FrameRef(Frame*) adopts.
  Frame* share() const {
    if (f_) ++f_->refs_;
    return f_;
  }
  // A new owner of a frame someone else holds a reference to.
  static FrameRef retain(Frame* f) {
    if (f) ++f->refs_;
    return FrameRef(f);
  }

 private:
  void release() {
    if (f_ && --f_->refs_ == 0) {
      FramePool* pool = f_->pool_;
      const bool largeBlock = f_->largeBlock_;
      f_->~Frame();
      if (pool) pool->give(f_);
      else if (largeBlock) LargeBlockPool::give(reinterpret_cast<uint8_t*>(f_));
      else std::free(f_);
    }
    f_ = nullptr;
  }
  Frame* f_ = nullptr;
};

}  // namespace lwsnode
