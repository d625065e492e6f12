// Events from the I/O thread to JS, gathered per loop iteration and delivered in one
// wakeup of the JS thread (js_wakeup.h). Records are fixed-size so JS reads them from one Uint32Array;
// small payloads share one slab, large ones keep their own allocation and become external
// Buffers. On the JS thread every batch taken at once is packed (packInbox) into the
// reactor's reusable inbox, which JS reads without a Node-API call; JS copies payloads out
// of it into Buffers of its own (lib/inbox.ts).
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "bytes.h"

namespace lwsnode {

enum class EventType : uint32_t {
  Open = 1,          // slot, a = server id, b = upgrade id (0: no hook),
                     // bytes = "address" or "address\nsubprotocol"
                     // (a client's: a = client id, bytes = "protocol\nextensions")
  Message = 2,       // slot, a = 1 if binary, bytes = payload
  Close = 3,         // slot, a = close code, bytes = reason
  Drain = 4,         // slot
  Listening = 5,     // a = server id, b = bound port
  ListenError = 6,   // a = server id, bytes = "CODE message"
  ServerClosed = 7,  // a = server id
  Stopped = 8,       // the I/O thread has finished; a = 1 if the context never started
  Pong = 9,          // slot, bytes = pong payload
  Log = 10,          // a = lws log level bit (LLL_*), bytes = the line
  Upgrade = 11,      // slot = upgrade id, a = server id, b = attach id (0: none),
                     // bytes = the request (upgrade.h)
  UpgradeGone = 12,  // slot = upgrade id, a = server id: accepted by JS but never opened
  Ping = 13,         // slot, bytes = ping payload (lws has queued the pong)
  ConnectError = 14, // a = client id, b = HTTP status (or 0), bytes = "CODE message"
  HttpRequest = 15,  // slot = request id, a = server id, bytes = the request (as Upgrade's);
                     // answered with UpgradeReject
  PeerCert = 30,     // slot = socket slot (b = 0) or upgrade id (b = 1), a = server id,
                     // bytes = "<X509_V_ERR code>\n" + the peer certificate's DER; right
                     // before the Open or Upgrade event it belongs to
  TlsApplied = 31,   // a = server id, b = setTls seq, bytes = "" or "CODE message"
};

// Layout shared with lib/inbox.ts (RECORD_WORDS: 8 x u32).
struct EventRecord {
  uint32_t type;
  uint32_t slot;
  uint32_t a;
  uint32_t b;
  uint32_t offset;  // into the slab, or index into `large` when `isLarge` (in an inbox: the
                    // byte offset in the inbox, or the index among every batch's `large`)
  uint32_t length;
  uint32_t isLarge;
  uint32_t reserved;
};
static_assert(sizeof(EventRecord) == 32, "EventRecord layout is shared with JS");

class EventBatch {
 public:
  // Payloads at least this big get their own allocation instead of a slab slice.
  static constexpr size_t kLargePayload = 16 * 1024;

  void push(EventType type, uint32_t slot, uint32_t a = 0, uint32_t b = 0) {
    records.push_back({static_cast<uint32_t>(type), slot, a, b, 0, 0, 0, 0});
  }

  // Copies `bytes` into the slab (or an own allocation when large). False on OOM.
  bool pushCopy(EventType type, uint32_t slot, uint32_t a, const void* bytes, size_t len) {
    if (len >= kLargePayload) {
      Bytes own;
      if (!own.reserve(len) || !own.append(bytes, len)) return false;
      return pushOwned(type, slot, a, std::move(own));
    }
    const size_t offset = slab.size();
    if (!slab.append(bytes, len)) return false;
    records.push_back({static_cast<uint32_t>(type), slot, a, 0, static_cast<uint32_t>(offset),
                       static_cast<uint32_t>(len), 0, 0});
    payloadBytes += len;
    return true;
  }

  // Takes a whole reassembled payload; small ones are still packed into the slab.
  bool pushOwned(EventType type, uint32_t slot, uint32_t a, Bytes&& payload) {
    const size_t len = payload.size();
    if (len < kLargePayload) return pushCopy(type, slot, a, payload.data(), len);
    records.push_back({static_cast<uint32_t>(type), slot, a, 0, static_cast<uint32_t>(large.size()),
                       static_cast<uint32_t>(len), 1, 0});
    large.push_back(std::move(payload));
    payloadBytes += len;
    return true;
  }

  bool empty() const { return records.empty(); }

  // Emptied for reuse, keeping the storage of its records and slab (event_outbox.h recycles
  // delivered batches so a turn's events cost no allocation).
  void reset() {
    records.clear();
    slab.clear();
    large.clear();
    payloadBytes = 0;
  }
  // Storage small enough to keep for the next batch (a burst's big batch is let go).
  bool worthKeeping() const { return records.capacity() <= 1024 && slab.capacity() <= 64 * 1024; }

  std::vector<EventRecord> records;
  Bytes slab;
  std::vector<Bytes> large;
  size_t payloadBytes = 0;  // inbound bytes held for JS, for rx flow control
};

// The inbox JS reads (layout shared with lib/inbox.ts): a header of 4 x u32 (record count,
// payload start, payload end, large payload count), then every record, then every small
// payload, all batches in order. Offsets are rebased so that a record's `offset` is the byte
// offset of its payload in the inbox, or (isLarge) its index among the batches' large payloads
// in order.
struct Inbox {
  static constexpr size_t kHeaderBytes = 16;

  // Bytes packInbox() writes for `batches`.
  static size_t bytesFor(const std::vector<EventBatch>& batches) {
    size_t n = kHeaderBytes;
    for (const EventBatch& b : batches) n += b.records.size() * sizeof(EventRecord) + b.slab.size();
    return n;
  }

  // Writes the inbox for `batches` to `dst`, which has room for bytesFor(batches) bytes (and
  // is 4-byte aligned).
  static void pack(const std::vector<EventBatch>& batches, uint8_t* dst) {
    size_t records = 0;
    for (const EventBatch& b : batches) records += b.records.size();
    const size_t payloadStart = kHeaderBytes + records * sizeof(EventRecord);
    auto* out = reinterpret_cast<EventRecord*>(dst + kHeaderBytes);
    size_t payload = payloadStart;
    uint32_t largeBase = 0;
    for (const EventBatch& b : batches) {
      for (const EventRecord& r : b.records) {
        *out = r;
        out->offset = r.isLarge ? r.offset + largeBase : static_cast<uint32_t>(r.offset + payload);
        ++out;
      }
      if (!b.slab.empty()) std::memcpy(dst + payload, b.slab.data(), b.slab.size());
      payload += b.slab.size();
      largeBase += static_cast<uint32_t>(b.large.size());
    }
    const uint32_t header[4] = {static_cast<uint32_t>(records), static_cast<uint32_t>(payloadStart),
                                static_cast<uint32_t>(payload), largeBase};
    std::memcpy(dst, header, sizeof(header));
  }
};

}  // namespace lwsnode
