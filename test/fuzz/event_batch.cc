// Fuzzes the I/O thread -> JS event batch (native/event_batch.h) with any sequence of push /
// pushCopy / pushOwned of payloads around the slab/large threshold, then reads every record
// back as JS does (slab slice or own allocation) and checks it against a model:
//  - records come out in push order with their type, slot and a,
//  - each payload resolves to exactly the bytes pushed (slab offsets stay valid as it grows),
//  - small payloads live in the slab and large ones in their own allocation, never both,
//  - payloadBytes is the sum of the payloads (it drives inbound flow control);
// then packs every batch into one inbox (Inbox::pack, as the JS thread delivers them) and
// reads it as lib/inbox.ts does:
//  - the header counts every record, and the payload region is where the records say,
//  - every record comes out in order, its payload at its rebased offset (or large index),
//  - small payloads lie back to back in record order (JS cuts its pages on that).
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

namespace {
// Checks one batch against its model; returns the large payloads seen.
void checkBatch(const lwsnode::EventBatch& batch, const std::vector<Expected>& model, size_t sum) {
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
}

// Packs `batches` into an inbox and reads it back as lib/inbox.ts does.
void checkInbox(const std::vector<lwsnode::EventBatch>& batches, const std::vector<std::vector<Expected>>& models) {
  const size_t size = lwsnode::Inbox::bytesFor(batches);
  std::vector<uint32_t> words((size + 3) / 4);
  auto* inbox = reinterpret_cast<uint8_t*>(words.data());
  lwsnode::Inbox::pack(batches, inbox);
  std::vector<const lwsnode::Bytes*> large;
  size_t records = 0;
  for (const lwsnode::EventBatch& b : batches) {
    records += b.records.size();
    for (const lwsnode::Bytes& l : b.large) large.push_back(&l);
  }
  const size_t payloadStart = lwsnode::Inbox::kHeaderBytes + records * sizeof(lwsnode::EventRecord);
  if (words[0] != records || words[1] != payloadStart || words[2] != size || words[3] != large.size()) std::abort();
  size_t next = payloadStart;  // where the next small payload must start
  size_t k = 0;
  for (const std::vector<Expected>& model : models) {
    for (const Expected& e : model) {
      lwsnode::EventRecord r;
      std::memcpy(&r, inbox + lwsnode::Inbox::kHeaderBytes + k++ * sizeof(r), sizeof(r));
      if (r.type != e.type || r.slot != e.slot || r.a != e.a || r.length != e.bytes.size()) std::abort();
      if (!e.hasBytes || e.bytes.empty()) continue;
      const uint8_t* p;
      if (r.isLarge) {
        if (r.offset >= large.size() || large[r.offset]->size() != r.length) std::abort();
        p = large[r.offset]->data();
      } else {
        if (r.offset != next || size_t{r.offset} + r.length > size) std::abort();
        next += r.length;
        p = inbox + r.offset;
      }
      if (std::memcmp(p, e.bytes.data(), r.length) != 0) std::abort();
    }
  }
  if (k != records || next != size) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<lwsnode::EventBatch> batches(1);
  std::vector<std::vector<Expected>> models(1);
  std::vector<size_t> sums(1, 0);
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
    lwsnode::EventBatch& batch = batches.back();
    std::vector<Expected>& model = models.back();
    switch (op % 4) {
      case 0:
        batch.push(lwsnode::EventType::Drain, slot, op);
        model.push_back({static_cast<uint32_t>(lwsnode::EventType::Drain), slot, op, "", false});
        break;
      case 1:
        if (!batch.pushCopy(lwsnode::EventType::Message, slot, op, payload.data(), len)) std::abort();
        model.push_back({static_cast<uint32_t>(lwsnode::EventType::Message), slot, op, payload, true});
        sums.back() += len;
        break;
      case 2: {
        lwsnode::Bytes owned;
        if (!owned.append(payload.data(), len)) std::abort();
        if (!batch.pushOwned(lwsnode::EventType::Close, slot, op, std::move(owned))) std::abort();
        model.push_back({static_cast<uint32_t>(lwsnode::EventType::Close), slot, op, payload, true});
        sums.back() += len;
        break;
      }
      case 3:  // the I/O thread publishes this batch and starts the next
        batches.emplace_back();
        models.emplace_back();
        sums.push_back(0);
        break;
    }
  }
  for (size_t b = 0; b < batches.size(); ++b) checkBatch(batches[b], models[b], sums[b]);
  checkInbox(batches, models);
  return 0;
}
