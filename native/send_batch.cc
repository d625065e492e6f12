#include "send_batch.h"

#include <cstring>

#include "command.h"
#include "connection.h"
#include "frame.h"
#include "slot_table.h"

namespace lwsnode {

void applySendBatch(SlotTable& slots, FramePool& pool, const uint8_t* records, size_t len) {
  size_t at = 0;
  while (at + kStagedHeaderBytes <= len) {
    uint32_t head[3];
    std::memcpy(head, records + at, sizeof head);
    const uint32_t slot = head[0], flags = head[1], length = head[2];
    if (length > len - at - kStagedHeaderBytes) return;  // written by our JS: never happens
    const uint8_t* payload = records + at + kStagedHeaderBytes;
    at += kStagedHeaderBytes + ((static_cast<size_t>(length) + 3) & ~size_t{3});
    Connection* conn = slots.get(slot);
    if (!conn) continue;
    // Framed here, on the thread that writes and frees it (its pool is this thread's).
    FrameRef frame = Frame::create(pool, (flags & kBinary) ? Opcode::Binary : Opcode::Text, length);
    if (!frame) {
      // Out of memory: the message cannot be queued; fail the socket rather than drop silently.
      conn->close(1011, "out of memory", true);
      continue;
    }
    if (length) std::memcpy(frame->payload(), payload, length);
    frame->setCompressible((flags & kCompress) != 0);
    conn->enqueue(std::move(frame), flags & kNotifyDrain, true);
  }
}

}  // namespace lwsnode
