// One established WebSocket connection, on the I/O thread only.
//
// Outbound: frames queue here and are written at once, not after a WRITEABLE round trip:
// queueing marks the connection dirty, and the reactor flushes each dirty connection once at
// the end of the batch of commands (or publish fan-out) that filled it (flush()). A write
// coalesces queued small frames into one lws_write (LWS_WRITE_RAW: the frames are already
// framed), or writes one large frame straight from its own buffer. Only what the kernel
// refused waits: lws keeps that remainder (its buflist), asks for WRITEABLE itself, and the
// WRITEABLE callback goes on from there. Frames are always written whole, so lws may
// interleave its own control frames (pong, close) between them.
// Inbound: fragments are reassembled into whole messages and handed to the event batch.
//
// The same class serves a server's accepted sockets and client connections (connect()); a
// client connection has no Server and masks what it writes (see mask.h).
//
// One file per part: connection.cc (construction, keepalive, topics), inbound_assembler.cc,
// outbound_queue.cc, connection_close.cc (the closing handshake).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <libwebsockets.h>

#include "bytes.h"
#include "frame.h"
#include "frame_ring.h"
#include "sul_timer.h"
#include "server_stats.h"
#include "utf8_validator.h"

namespace lwsnode {

class Deflater;
class EventBatch;
class Reactor;
class Server;
class Topic;
struct ConnectionLimits;

class Connection {
 public:
  // An accepted socket of `server`, or a client connection (`server` null: its frames are
  // masked). `limits` and `stats` outlive it (its Server's, or its Client's and the reactor's).
  // Made in one place for both: Reactor::establish.
  Connection(Reactor& reactor, Server* server, const ConnectionLimits& limits, ServerStats& stats, lws* wsi,
             uint32_t slot);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  uint32_t slot() const { return slot_; }
  lws* wsi() const { return wsi_; }
  Server* server() const { return server_; }  // null for a client connection
  // Where the server keeps this connection in its list (Server's bookkeeping).
  uint32_t serverIndex() const { return serverIndex_; }
  void setServerIndex(uint32_t index) { serverIndex_ = index; }
  // permessage-deflate was negotiated: compressible messages go out compressed by `deflater`
  // (the server's, or the client's own), which outlives this connection's sends.
  void enableDeflate(Deflater& deflater) { deflater_ = &deflater; }

  // lws callbacks; a negative return closes the connection.
  int onReceive(const void* in, size_t len);
  int onWritable();
  // Writes what is queued unless lws still holds part of an earlier write (then WRITEABLE
  // continues); reports drain; asks for WRITEABLE for a pending close. Outside lws's callbacks
  // for this wsi (the reactor's flush of dirty connections).
  void flush();
  bool dirty() const { return dirty_; }
  void setDirty(bool on) { dirty_ = on; }
  // The peer's close frame: returns LWS_PEER_CLOSE_HOLD (our reply waits, see below) or -1.
  int onPeerClose(const uint8_t* in, size_t len);
  // LWS_CALLBACK_WS_HOLD_CLOSE (lws patch 0500): lws is about to send this close (`in`, `len`:
  // code and reason). Returns true to hold it.
  //
  // Close ordering (RFC 6455 5.5.1, issue 12). Invariant: after our Close is written nothing
  // else is written on the connection, and whatever was queued before it is written first.
  // A close we did not start from JS (the reply to the peer's Close, a protocol error lws or
  // we detected) is held: the events that arrived before it reach JS, JS acknowledges the
  // batch they travelled in (Reactor::releaseHeldCloses, after that batch's handlers ran, behind
  // the sends they made), then the queue is written and the Close last (onWritable). At most
  // closeTimeout later the Close goes anyway. While held lws reads nothing more.
  bool onCloseHold(const uint8_t* in, size_t len);
  // JS has run the handlers of the batches up to `seenBatch`: a held close waiting for them
  // goes out after the queue. Returns false while it still waits.
  bool releaseHeldClose(uint32_t seenBatch);
  bool holdingClose() const { return holding_; }
  void onClosed();  // emits the Close event; the owner deletes us afterwards

  // Commands from JS (and the server's shutdown).
  // A null frame only applies `flags` (a drain watch).
  void enqueue(FrameRef frame, uint32_t flags, bool countedByJs);
  // A publish (counted in bufferedAmount by JS when it was made) or a broadcast (counted here:
  // it may reach sockets whose open JS has not seen yet): queued unless this socket is over
  // maxBackpressure, where the server's policy drops it (counted) or closes the socket with 1008.
  // Returns the bytes queued, which the caller adds to the server's QueuedBytes (once per fan-out).
  size_t deliver(const FrameRef& frame, bool countedByJs);
  void close(int code, const std::string& reason, bool discardQueue = false);
  void terminate();
  void resumeReads();
  // A JS consumer (a client's stream or iterator) stops or restarts reading, independently of
  // the reactor's inbound-congestion pause: reads flow only when neither holds them.
  void holdReads(bool hold);
  void onPong(const void* in, size_t len);
  void onPing(const void* in, size_t len);
  // Idle policy, once a second: ping a socket silent for half of `idleMs`, drop one silent for
  // all of it. Returns true if it asked lws to kill the connection.
  bool checkIdle(uint64_t nowMs, uint64_t idleMs, bool sendPings, const FrameRef& ping);

  // Topics (Server keeps the topic side).
  bool isSubscribed(const Topic& topic) const;
  void joined(Topic& topic, uint32_t index);
  // Removes the subscription; returns its index in the topic, or -1 if there was none.
  int64_t left(const Topic& topic);
  void moved(const Topic& topic, uint32_t index);
  std::vector<Topic*> topics() const;

 private:
  void requestWritable();
  void markDirty();
  // Appends a frame (compressed already if it is to be) and marks the connection dirty;
  // returns its account length, for the caller's stats.
  size_t push(const FrameRef& frame, bool countedByJs);
  // A delivery over maxBackpressure: dropped (counted; out of bufferedAmount) or, by the
  // server's policy, the socket closed with 1008.
  [[gnu::noinline]] void refuse(const Frame& frame, bool countedByJs);
  // Writes queued frames until the queue is empty or lws holds a refused remainder; false if
  // lws failed the socket.
  bool writeQueued();
  bool writeOnce();
  // Copies one whole frame (header and payload) to `dst` as it goes on the wire; returns its
  // length. Client connections mask it with a fresh key.
  size_t copyFrame(uint8_t* dst, const Frame& frame);
  size_t wireLength(const Frame& frame) const;
  int failMessage(int code, const char* reason);  // closes with `code`; returns -1 for lws
  bool pushWhole(EventBatch& events, const void* in, size_t len, const uint8_t* key);  // false: out of memory

  void holdClose();  // starts holding (see onCloseHold)
  void armCloseDeadline();
  static void onCloseDeadline(lws_sorted_usec_list_t* sul);

  struct Subscription {
    Topic* topic;
    uint32_t index;  // position in topic->subscribers()
  };

  // Members are ordered to leave no padding, the flags are bits and what most connections
  // never use is allocated on first use: 10k idle connections are 10k Connections (a 168-byte
  // object, a 176-byte malloc chunk).
  Reactor& reactor_;
  Server* server_;  // null for a client connection
  const ConnectionLimits& limits_;
  ServerStats& stats_;
  lws* wsi_;
  uint32_t slot_;
  uint32_t serverIndex_ = 0;
  std::atomic<double>& counter_;  // JS-visible: natively queued bytes minus written bytes

  FrameRing queue_;              // outbound, oldest first
  size_t frontOffset_ = 0;       // payload bytes of queue_.front() already written (fragments)
  size_t queuedBytes_ = 0;       // payload bytes in queue_ not yet written
  std::unique_ptr<std::vector<Subscription>> subscriptions_;  // on the first subscribe
  Deflater* deflater_ = nullptr;  // set when permessage-deflate was negotiated

  Bytes rx_;  // a message being reassembled across RECEIVE callbacks
  // Last message or pong received: the loop clock's low 32 bits. The idle check subtracts
  // modulo 2^32, which is exact for any silence shorter than 49 days (it runs every second).
  uint32_t lastActivityMs_;
  Utf8Validator utf8_;  // state carried between the fragments of a text message
  const bool masked_ : 1;  // client: frames leave masked
  bool pingOutstanding_ : 1;
  bool rxBinary_ : 1;
  bool rxActive_ : 1;
  bool readsPaused_ : 1;
  bool readsHeld_ : 1;  // by JS (holdReads)
  bool notifyDrain_ : 1;
  bool dirty_ : 1;  // in the reactor's list of connections to flush this turn
  bool closeRequested_ : 1;  // send a close frame once the queue is flushed
  bool sentClose_ : 1;
  bool holding_ : 1;     // a close is held (see onCloseHold) until JS saw closing_->holdBatch
  bool lettingGo_ : 1;   // our close is being handed to lws: do not hold it again
  bool peerClosed_ : 1;
  // What only a closing connection needs, allocated when its close starts: an idle
  // connection's bytes matter (10k idle sockets are the storm benchmark's 10k Connections).
  struct Closing {
    // Bounds every close we start by the server's closeTimeout: a peer that stopped reading
    // would otherwise hold the connection until the idle timeout.
    SulTimer<Connection> deadline;
    uint32_t holdBatch = 0;  // a held close waits until JS has seen this batch (onCloseHold)
    int code = 0;        // the close we send (or sent)
    std::string reason;
    int peerCode = 0;
    std::string peerReason;
  };
  Closing& closing();  // allocates it on first use
  std::unique_ptr<Closing> closing_;
};

}  // namespace lwsnode
