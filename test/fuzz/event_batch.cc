// Fuzzes the I/O thread -> JS event batch (native/event_batch.h) with any sequence of push /
// pushCopy / pushOwned of payloads around the slab/large threshold, then reads every record
// back as JS does (slab slice or own allocation) and checks it against a model:
//  - records come out in push order with their type, slot and a,
//  - each payload resolves to exactly the bytes pushed (slab offsets stay valid as it grows),
//  - small payloads live in the slab and large ones in their own allocation, never both,
//  - payloadBytes is the sum of the payloads (it drives inbound flow control).
// ASan checks every slice stays inside its allocation; LeakSanitizer that nothing leaks.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../../native/event_batch.h"

namespace {
struct Expected {
  uint32_t type, slot, a;
  std::string bytes;  // empty for plain push
  bool hasBytes;
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lwsnode::EventBatch batch;
  std::vector<Expected> model;
  size_t sum = 0;
  for (size_t i = 0; i + 3 < size; i += 4) {
    const uint8_t op = data[i];
    const uint32_t slot = data[i + 1];
    // Lengths cluster around the 16 KiB threshold and near zero.
    const size_t unit = (op >> 2) & 3;
    const size_t len = unit == 0 ? data[i + 2]
                     : unit == 1 ? lwsnode::EventBatch::kLargePayload - 8 + (data[i + 2] & 15)
                     : unit == 2 ? (size_t{data[i + 2]} << 8 | data[i + 3])
                                 : data[i + 2] % 3;
    std::string payload(len, static_cast<char>(data[i + 3] ^ i));
    if (!payload.empty()) payload[0] = static_cast<char>(i);  // distinguishes neighbours
    switch (op % 3) {
      case 0:
        batch.push(lwsnode::EventType::Drain, slot, op);
        model.push_back({static_cast<uint32_t>(lwsnode::EventType::Drain), slot, op, "", false});
        break;
      case 1:
        if (!batch.pushCopy(lwsnode::EventType::Message, slot, op, payload.data(), len)) std::abort();
        model.push_back({static_cast<uint32_t>(lwsnode::EventType::Message), slot, op, payload, true});
        sum += len;
        break;
      case 2: {
        lwsnode::Bytes owned;
        if (!owned.append(payload.data(), len)) std::abort();
        if (!batch.pushOwned(lwsnode::EventType::Close, slot, op, std::move(owned))) std::abort();
        model.push_back({static_cast<uint32_t>(lwsnode::EventType::Close), slot, op, payload, true});
        sum += len;
        break;
      }
    }
  }
  if (batch.records.size() != model.size() || batch.payloadBytes != sum) std::abort();
  if (batch.empty() != model.empty()) std::abort();
  size_t larges = 0;
  for (size_t k = 0; k < model.size(); ++k) {
    const lwsnode::EventRecord& r = batch.records[k];
    const Expected& e = model[k];
    if (r.type != e.type || r.slot != e.slot || r.a != e.a || r.reserved != 0) std::abort();
    if (!e.hasBytes) {
      if (r.length != 0 || r.isLarge) std::abort();
      continue;
    }
    if (r.length != e.bytes.size()) std::abort();
    const bool large = e.bytes.size() >= lwsnode::EventBatch::kLargePayload;
    if (static_cast<bool>(r.isLarge) != large) std::abort();
    const uint8_t* p;
    if (large) {
      if (r.offset != larges++ || r.offset >= batch.large.size()) std::abort();
      if (batch.large[r.offset].size() != r.length) std::abort();
      p = batch.large[r.offset].data();
    } else {
      if (size_t{r.offset} + r.length > batch.slab.size()) std::abort();
      p = batch.slab.data() + r.offset;
    }
    if (r.length && std::memcmp(p, e.bytes.data(), r.length) != 0) std::abort();
  }
  if (larges != batch.large.size()) std::abort();
  return 0;
}
