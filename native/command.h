// Commands from the JS thread to the I/O thread. They travel through CommandQueue and are
// applied on the I/O thread in the order they were issued.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "frame.h"
#include "options.h"

namespace lwsnode {

enum class CommandType : uint8_t {
  Send,         // slot, frame, flags
  Close,        // slot, code, text = reason
  Terminate,    // slot
  Release,      // slot: JS has seen the close, the slot may be reused
  Listen,       // server
  StopServer,   // id
  Subscribe,    // slot, text = topic
  Unsubscribe,  // slot, text = topic
  Publish,      // slot = server id, text = topic, frame; code = sender slot with kExcludeSender
  Broadcast,    // slot = server id, frame
  ResumeReads,  // JS caught up with inbound events
  SetLogLevels, // code = LLL_* mask routed to JS
  UpgradeAccept, // slot = server id, code = upgrade id, text = protocol '\n' extra header lines
  UpgradeReject, // slot = server id, code = upgrade id, text = the whole HTTP response
  Shutdown,     // destroy the reactor
  Connect,      // client
  AbortConnect, // slot = client id: give up a connect in progress (or drop the connection)
  HoldReads,    // slot, code = 1: a JS consumer is full, stop reading this socket; 0: read again
  Adopt,        // slot = server id, code = fd (now ours), flags = attach id,
                // text = peer address (or empty) '\n' the bytes already read
  SetTls,       // slot = server id, code = request seq, server = the tls* fields to apply
  EventsSeen,   // slot = batches JS has dispatched so far (wrapping): releases held closes
  SendBatch,    // text = the small sends of a JS turn, staged by JS (send_batch.h)
};

// Send flags.
constexpr uint32_t kNotifyDrain = 1;     // JS reported backpressure: tell it when the queue empties
constexpr uint32_t kExcludeSender = 2;   // publish: skip the sending socket
constexpr uint32_t kDiscardQueue = 4;    // close: drop what is queued (slow-consumer policy)
constexpr uint32_t kCompress = 8;        // send: JS allows permessage-deflate for this message
constexpr uint32_t kBinary = 16;         // a staged send (SendBatch): a binary frame, else text
constexpr uint32_t kCountedNatively = 32;  // publish from another thread: JS did not count it

struct Command {
  explicit Command(CommandType t) : type(t) {}
  CommandType type;
  uint32_t slot = 0;  // or server id
  uint32_t flags = 0;
  int32_t code = 0;
  FrameRef frame;
  std::string text;
  std::unique_ptr<ServerOptions> server;
  std::unique_ptr<ClientOptions> client;
};

}  // namespace lwsnode
