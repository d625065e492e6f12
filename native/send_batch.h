// The small sends of a JS turn, staged by JS in one buffer (lib/send-stage.ts) and handed over
// in one command: a Node-API call per ws.send() cost more than the rest of the send together.
//
// Layout (shared with lib/send-stage.ts), records back to back, each 4-byte aligned:
//   u32 slot, u32 flags (kBinary, kCompress, kNotifyDrain), u32 payload length, the payload,
//   zero to three bytes of padding.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lwsnode {

class FramePool;
class SlotTable;

constexpr size_t kStagedHeaderBytes = 12;

// I/O thread: frames every staged send and queues it on its connection (counted in
// bufferedAmount by JS already), in order. Records of closed slots are skipped, like a Send's.
// Small frames come from `pool`.
void applySendBatch(SlotTable& slots, FramePool& pool, const uint8_t* records, size_t len);

}  // namespace lwsnode
