// One I/O thread with its own uv loop and lws context. Servers (vhosts) and connections live
// on it; nothing else touches the loop or the context.
//
//   JS thread                          I/O thread
//   ---------                          ----------
//   submit(cmd) -> CommandQueue ---- uv_async_send (wake_) ---> onWake: apply
//   takeEvents() <- outbox <-- notify (JsWakeup) -- uv_prepare: publish the iteration's events
//   deliveryDone() -> outbox: delivered batches, emptied, refilled by the next publish
//
// Destruction, on the I/O thread (Shutdown command or the env going away): detach the
// command queue, lws_context_destroy() (closes listeners and connections, starts closing
// lws's uv handles), close our prepare handle, let uv_run() return, lws_context_destroy()
// again (frees the context), uv_loop_close(); then the final events and Stopped; the JS
// thread joins.
//
// One file per part of the class:
//   io_thread.cc       thread and loop lifecycle: start, prepare turn, idle tick, ordered destroy
//   lws_router.cc      the lws protocol callback, routed to Server / Client / Connection
//   apply.cc           command application, and the servers and clients commands create
//   client_vhosts.cc   one client vhost per distinct client configuration
//   establish.cc       the Open event and Connection of a completed handshake (server or client)
//   write_at_once.cc   dirty connections, flushed once per batch of commands
//   inbound_flow.cc    reads paused while JS holds too many undelivered bytes
//   event_delivery.cc  events published to JS (the outbox, event_outbox.h)
//   close_hold.cc      closes held until JS dispatched the events before them
#pragma once

#include <libwebsockets.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "command_queue.h"
#include "event_batch.h"
#include "event_outbox.h"
#include "frame.h"
#include "large_block_pool.h"
#include "mask.h"
#include "server_stats.h"
#include "slot_table.h"

namespace lwsnode {

class Client;
class Connection;
class Deflater;
class Server;
struct ConnectionLimits;

class Reactor {
 public:
  // `notify` runs on the I/O thread whenever events start waiting for JS; it must not block.
  // `logLevels` (LLL_* bits) selects the lws log lines delivered to JS as Log events.
  Reactor(std::function<void()> notify, uint32_t logLevels);
  ~Reactor();  // stops and joins if still running
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // ---- JS thread ----
  void start();
  bool submit(Command&& cmd, bool deferWake = false) { return commands_.push(std::move(cmd), deferWake); }
  void flushWake() { commands_.flushWake(); }
  // Every batch published so far, swapped into `out` (pass it empty: its storage is reused).
  void takeEvents(std::vector<EventBatch>& out);
  // JS finished dispatching what takeEvents() returned (`done`, emptied: the batches go back to
  // the I/O thread for reuse). True: nothing new, and the next publish wakes JS; false: more
  // batches arrived meanwhile and no wakeup was sent for them, so the caller must schedule the
  // next delivery itself.
  bool deliveryDone(std::vector<EventBatch>& done);
  // JS finished dispatching `bytes` of inbound payload; resumes paused reads when caught up.
  void eventsConsumed(size_t bytes);
  // JS ran the handlers of `count` more batches (their sends are queued already): connections
  // holding a close for them may let it go (Connection::onCloseHold).
  void batchesDispatched(size_t count);
  // JS runs some handlers later than their batch (held events): while any hold is on, the
  // batches dispatched meanwhile are not acknowledged; the last release acknowledges them.
  void holdAcks(bool on);
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  // Stops the I/O thread (if running) and waits for it; idempotent.
  void stopAndJoin();
  std::shared_ptr<CounterChunk> counterChunk(uint32_t index) { return slots_.chunk(index); }

  // ---- any thread ----
  // Large payload blocks: JS's large sends take frames from it, the I/O thread inbound
  // messages; either thread gives them back (large_block_pool.h).
  LargeBlockPool& largePool() { return *largePool_; }

  // ---- I/O thread ----
  static int lwsCallback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len);
  static const lws_protocols* protocols();
  EventBatch& events() { return pending_; }
  SlotTable& slots() { return slots_; }
  lws_context* context() const { return context_; }
  uint8_t* scratch() { return scratch_.get(); }
  uint64_t nowMs() const { return uv_now(&loop_); }  // the loop's cached clock
  lws_log_cx_t* logContext() { return &logCx_; }
  // Reads from `wsi` stop while JS holds too many undelivered inbound bytes.
  bool inboundCongested() const;
  void pauseReads(Connection& conn);
  void forgetPaused(Connection& conn);
  // vhost creation and destruction must not run inside an lws callback of that vhost.
  void deferDestroy(Server& server);
  // lws state changed outside its callbacks: give it a turn (see onPrepare).
  void needLwsTurn() { lwsNeedsTurn_ = true; }
  // Write-at-once: a connection that queued frames is flushed once at the end of this turn's
  // commands (or idle tick, or in prepare at the latest), so a batch of sends and publishes
  // costs one write per connection.
  void markDirty(Connection& conn);
  void forgetDirty(Connection& conn);
  void flushDirty();
  void onServerGone(Server& server);
  // ESTABLISHED, for a server's socket (`server`) or a client's connection (null): takes a
  // slot, queues its Open event (a = `owner`, the server or client id; b = `b`; bytes =
  // `text`) and makes the Connection that `*pss` owns from here until CLOSED, compressing with
  // `deflater` if given. Null when the event could not be queued (out of memory): JS would
  // never know the socket, so the slot goes straight back and the caller refuses it.
  Connection* establish(lws* wsi, Connection** pss, uint32_t owner, uint32_t b, const std::string& text,
                        Server* server, const ConnectionLimits& limits, ServerStats& stats, Deflater* deflater);
  // The counters of client connections: Connection counts without asking whose it is, and a
  // client's counters are read by nobody, so every client of this reactor shares these.
  ServerStats& clientStats() { return clientStats_; }
  void onClientGone(Client& client);  // its connect failed or its connection closed
  MaskKeys& maskKeys() { return maskKeys_; }
  // Handshakes parked by every server of this reactor (each holds a header buffer).
  size_t& parkedHandshakes() { return parkedHandshakes_; }

  // lws's pool of header buffers, shared by every server on the context, and how many of them
  // parked handshakes may hold: the rest keep serving handshakes answered at once.
  static constexpr int kHeaderPool = 256;
  static constexpr size_t kMaxParkedHandshakes = 192;
  // `conn` holds a close until JS has dispatched the events queued so far; returns the number
  // of the batch that carries them.
  uint32_t holdClose(Connection& conn);

  static constexpr size_t kCoalesceLimit = 64 * 1024;  // small frames gathered per write
  // Messages larger than this leave as fragments of this size; lws buffers at most one.
  static constexpr size_t kFragmentPayload = 256 * 1024;
  // Room for the largest frame a write builds: a fragment, masked if a client sends it.
  static constexpr size_t kScratchSize = kFragmentPayload + kMaxFrameHeader + kMaskKeyLength;
  static constexpr size_t kInboundHighWater = 64 * 1024 * 1024;
  static constexpr uint64_t kIdleTickMs = 1000;  // granularity of idleTimeout

 private:
  void run();
  void applyBeforeSleep();
  void onWake();                               // wake_: JS queued commands and woke us
  void applyOutsideLws(std::vector<Command>& cmds);
  void recycle(std::vector<Command>&& applied);  // keeps its storage for the next take
  void apply(Command& cmd);
  void applyDeferred(Command& cmd);
  void releaseHeldCloses(uint32_t dispatched);  // EventsSeen: JS dispatched up to that batch
  void resumePausedReads();                     // ResumeReads
  void onPrepare();
  void prepareTurn();  // one round of onPrepare: apply, flush, vhost work, publish
  void onIdleTick();
  static void emitLog(lws_log_cx* cx, int level, const char* line, size_t len);
  void publishEvents();
  void beginDestroy();
  lws_vhost* clientVhost(const Client& client);

  // Member order is destruction order in reverse: the thread is joined in ~Reactor before
  // anything below it goes away.
  LargeBlockPoolOwner largePool_;  // closed last: every frame and batch below gives back first
  std::function<void()> notify_;
  CommandQueue commands_;
  SlotTable slots_;

  // I/O thread only.
  FramePool framePool_;  // staged sends' frames; outlives every connection (run() ends first)
  lws_log_cx_t logCx_{};
  uv_loop_t loop_{};
  uv_prepare_t prepare_{};
  uv_async_t wake_{};  // CommandQueue's wakeup (command_queue.h says why not lws_cancel_service)
  // Once a second: the idle policy. Our own, not lws's validity timers: those live in one
  // sorted list per thread, so every connection accepted would walk all the others'.
  uv_timer_t idleTimer_{};
  FrameRef keepalivePing_;       // the automatic ping, shared by every connection
  bool lwsNeedsTurn_ = false;    // lws state changed outside its callbacks (see onPrepare)
  lws_context* context_ = nullptr;
  EventBatch pending_;
  std::unique_ptr<uint8_t[]> scratch_;
  std::unordered_map<uint32_t, std::unique_ptr<Server>> servers_;
  std::vector<uint32_t> toDestroy_;        // server ids whose vhost must be destroyed
  std::vector<std::unique_ptr<Server>> graveyard_;  // freed outside lws callbacks
  std::vector<Command> deferred_;          // vhost-level commands, applied in prepare
  // Swapped with the command queue's vector at each take, so pushes reuse storage.
  std::vector<Command> applying_;
  static constexpr size_t kKeptCommands = 4096;
  // Rounds of prepareTurn() per loop iteration while JS answers without a wakeup (onPrepare).
  static constexpr int kPrepareRounds = 4;
  std::unordered_map<uint32_t, std::unique_ptr<Client>> clients_;
  std::vector<std::unique_ptr<Client>> clientGraveyard_;  // freed outside lws callbacks
  // One client vhost per distinct TLS configuration (Client::vhostKey()); they go with the
  // context.
  struct ClientVhost {
    lws_vhost* vhost = nullptr;
    std::string name;  // lws keeps a pointer to it
  };
  std::unordered_map<std::string, ClientVhost> clientVhosts_;
  MaskKeys maskKeys_;
  ServerStats clientStats_;  // see clientStats()
  std::vector<Connection*> paused_;
  std::vector<Connection*> dirty_;  // queued frames since the last flush (see markDirty)
  std::vector<Connection*> flushing_;  // dirty_'s previous storage, reused
  size_t parkedHandshakes_ = 0;
  std::vector<uint32_t> heldSlots_;     // connections holding a close (by slot: they may die)
  uint32_t publishedBatches_ = 0;       // batches handed to JS so far (wrapping)
  bool shutdownRequested_ = false;
  bool destroying_ = false;

  // Shared with the JS thread.
  EventOutbox outbox_;
  std::atomic<bool> resumeRequested_{false};
  std::atomic<size_t> pausedCount_{0};
  std::atomic<bool> finished_{false};
  // Held closes (seq_cst, Dekker-style with dispatchedBatches_: either JS sees a hold and
  // acknowledges, or the I/O thread sees the batch was dispatched and acknowledges itself).
  std::atomic<uint32_t> heldCloses_{0};
  std::atomic<uint32_t> dispatchedBatches_{0};
  uint32_t jsDispatched_ = 0;  // JS thread only
  uint32_t ackHolds_ = 0;      // JS thread only
  void acknowledge();          // JS thread: publish jsDispatched_, queue an ack if one waits

  std::thread thread_;
  std::thread::id ioThread_;  // set by run(); lws lines logged elsewhere are dropped
};

}  // namespace lwsnode
