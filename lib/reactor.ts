// The JS half of one I/O thread: routes batched native events to servers and sockets, and
// decides when the thread lives, keeps the process alive, and stops.
//
// One reactor per JS environment (main thread or worker) is shared by every server created
// there. It starts with the first server and shuts down, in order, after the last one closes;
// the next createServer() starts a fresh one.
import {
  addon,
  EV_CLOSE,
  EV_CONNECT_ERROR,
  EV_DRAIN,
  EV_HTTP_REQUEST,
  EV_LISTEN_ERROR,
  EV_LISTENING,
  EV_LOG,
  EV_MESSAGE,
  EV_OPEN,
  EV_PING,
  EV_PONG,
  EV_SERVER_CLOSED,
  EV_STOPPED,
  EV_UPGRADE,
  EV_UPGRADE_GONE,
  EV_PEER_CERT,
  EV_TLS_APPLIED,
  type NativeReactor,
} from "./native.js";
import { Inbox, RECORD_WORDS } from "./inbox.js";
import { SendStage } from "./send-stage.js";
import { forgetLogListener, logLevelMask, logLine } from "./logger.js";

/** A listening server or a client connection registered with a reactor. */
export interface Endpoint {
  _listening(port: number): void;
  _listenFailed(code: string, message: string): void;
  _closed(): void;
  /**
   * A connection was accepted (a server: `text` is "address" or "address\nsubprotocol",
   * `upgradeId` its handshake's, 0 without a hook) or established (a client: `text` is
   * "protocol\nextensions"): returns the object that receives its events.
   */
  _open(slot: number, text: string, upgradeId: number): SocketEvents;
  /** An upgrade request waits for the hook's decision. */
  _upgrade?(upgradeId: number, request: Buffer, attachId: number): void;
  /** A plain HTTP request waits for the `http` handler's answer. */
  _httpRequest?(requestId: number, request: Buffer): void;
  /** A handshake the hook accepted never opened (timed out, client gone, or refused late). */
  _upgradeGone?(upgradeId: number): void;
  /** A client's connect failed: `code` names why, `status` is the HTTP status or 0. */
  _connectFailed?(code: string, message: string, status: number): void;
  /**
   * The TLS peer certificate of the Open (`forUpgrade` false: `id` is its slot) or Upgrade
   * (`forUpgrade`: `id` is the upgrade id) event that follows; `bytes` is a slab view.
   */
  _peerCert?(id: number, forUpgrade: boolean, bytes: Buffer): void;
  /** setTls() request `seq` was applied (`error` empty) or refused. */
  _tlsApplied?(seq: number, error: string): void;
}

/** What a connection's events are delivered to. */
export interface SocketEvents {
  _message(data: Buffer, isBinary: boolean): void;
  _drain(): void;
  _pong(data: Buffer): void;
  _ping(data: Buffer): void;
  /** The connection is gone; `counter` is its final shared bufferedAmount counter. */
  _closed(code: number, reason: string, counter: number): void;
}

const CHUNK_SHIFT = 10; // 1024 counters per chunk, as in native/slot_table.h
const CHUNK_MASK = 1023;

export function reportUncaught(err: unknown): void {
  // A throwing user handler must not break delivery to the others: surface it the way an
  // EventEmitter listener's error would surface, as an uncaught exception.
  process.nextTick(() => {
    throw err;
  });
}

export class Reactor {
  readonly #native: NativeReactor;
  // Small sends of this turn (lib/send-stage.ts), flushed before any other native call.
  readonly #stage: SendStage;
  private readonly endpoints = new Map<number, Endpoint>();
  private readonly sockets: (SocketEvents | undefined)[] = [];
  private readonly counters: Float64Array[] = [];
  private nextId = 1;
  private holds = 0;
  private stopping = false;
  private readonly inbox = new Inbox();

  private readonly onLogLevels = (mask: number): void => this.native.setLogLevels(mask);

  constructor() {
    this.#stage = new SendStage((stage, used) => this.#native.sendBatch(stage, used));
    this.#native = new addon.Reactor(this.dispatch, logLevelMask(this.onLogLevels), this.#stage.buffer);
    this.#native.unref(); // only holds keep the process alive (see hold())
    live.add(this);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on("exit", stopAllNow);
    }
  }

  /**
   * Stops the I/O thread and waits for it, synchronously (process `exit`): its connections are
   * dropped, nothing more is delivered.
   */
  stopNow(): void {
    live.delete(this);
    this.stopping = true;
    if (current === this) current = undefined;
    this.native.join();
  }

  /**
   * The native reactor. Every command issued through it follows the sends staged so far (they
   * are handed over first), so a close, a publish or a large send never overtakes them.
   */
  get native(): NativeReactor {
    if (this.#stage.used > 0) this.#stage.flush();
    return this.#native;
  }

  /**
   * ws.send(): stages a small message (one native call per turn for all of them) or sends a
   * large one directly; returns its payload bytes. Wakes the I/O thread at the end of the turn.
   */
  send(slot: number, data: string | ArrayBufferView, isBinary: boolean, flags: number): number {
    let bytes = this.#stage.add(slot, data, isBinary, flags);
    if (bytes < 0) bytes = this.native.send(slot, data, isBinary, flags);
    this.cork();
    return bytes;
  }

  /**
   * Call after each native send/ping/publish/broadcast (they never wake the I/O thread): the
   * first one of a JS turn queues one microtask that wakes it, so all of the turn's commands
   * cross together with one wakeup. bufferedAmount and SendStatus stay synchronous: they are
   * counted in JS when the command is queued.
   */
  cork(): void {
    // While a delivery is dispatched the native side wakes the I/O thread itself once the
    // dispatch returns (JsReactor::deliver): no microtask needed for the handlers' sends.
    if (this.wakeQueued || this.dispatching) return;
    this.wakeQueued = true;
    queueMicrotask(this.wake);
  }

  private wakeQueued = false;
  /** True while dispatch() runs the handlers of a delivery. */
  private dispatching = false;
  private readonly wake = (): void => {
    this.wakeQueued = false;
    this.native.flushWake(); // after the staged sends (see native)
  };

  get isStopping(): boolean {
    return this.stopping;
  }

  /** Registers an endpoint; its id names it in native commands and events. */
  add(endpoint: Endpoint): number {
    const id = this.nextId++;
    this.endpoints.set(id, endpoint);
    return id;
  }

  /** Unregisters an endpoint; the last one out shuts the reactor down. */
  remove(id: number): void {
    this.endpoints.delete(id);
    if (this.endpoints.size === 0 && !this.stopping) {
      this.stopping = true;
      if (current === this) current = undefined;
      this.hold(); // until Stopped arrives and the thread is joined
      this.native.shutdown();
    }
  }

  /** Keeps the process alive while anything (a ref'd server, a pending close) needs events. */
  hold(): void {
    if (this.holds++ === 0) this.native.ref();
  }

  unhold(): void {
    if (--this.holds === 0) this.native.unref();
  }

  /** The native part of slot's bufferedAmount: bytes queued natively minus bytes written. */
  counter(slot: number): number {
    return this.counters[slot >>> CHUNK_SHIFT]![slot & CHUNK_MASK]!;
  }

  // One call per delivery: every event batch the I/O thread published since the last one,
  // read from the inbox (lib/inbox.ts) with no Node-API call per event.
  private readonly dispatch = (inbox: ArrayBuffer | undefined, large: Buffer[] | undefined): number => {
    const box = this.inbox;
    const end = box.begin(inbox, large);
    const records = box.words;
    let released: number[] | undefined;
    this.dispatching = true;
    for (let i = box.firstRecord; i < end; i += RECORD_WORDS) {
      const type = records[i]!;
      const slot = records[i + 1]!;
      const a = records[i + 2]!;
      try {
        switch (type) {
          case EV_MESSAGE:
            this.sockets[slot]?._message(box.payload(i), a === 1);
            break;
          case EV_OPEN: {
            const endpoint = this.endpoints.get(a);
            if (this.counters[slot >>> CHUNK_SHIFT] === undefined) {
              this.counters[slot >>> CHUNK_SHIFT] = this.native.counters(slot >>> CHUNK_SHIFT)!;
            }
            if (endpoint) this.sockets[slot] = endpoint._open(slot, box.text(i), records[i + 3]!);
            break;
          }
          case EV_UPGRADE:
          case EV_HTTP_REQUEST:
            if (type === EV_UPGRADE) this.endpoints.get(a)?._upgrade?.(slot, box.payload(i), records[i + 3]!);
            else this.endpoints.get(a)?._httpRequest?.(slot, box.payload(i));
            break;
          case EV_PEER_CERT:
            this.endpoints.get(a)?._peerCert?.(slot, records[i + 3] === 1, box.payload(i));
            break;
          case EV_TLS_APPLIED:
            this.endpoints.get(a)?._tlsApplied?.(records[i + 3]!, box.text(i));
            break;
          case EV_UPGRADE_GONE:
            this.endpoints.get(a)?._upgradeGone?.(slot);
            break;
          case EV_DRAIN:
            this.sockets[slot]?._drain();
            break;
          case EV_PONG:
            this.sockets[slot]?._pong(box.payload(i));
            break;
          case EV_PING:
            this.sockets[slot]?._ping(box.payload(i));
            break;
          case EV_CLOSE: {
            const socket = this.sockets[slot];
            this.sockets[slot] = undefined;
            (released ??= []).push(slot);
            socket?._closed(a, box.text(i), this.counter(slot));
            break;
          }
          case EV_LISTENING:
            this.endpoints.get(a)?._listening(records[i + 3]!);
            break;
          case EV_LISTEN_ERROR: {
            const text = box.text(i);
            const space = text.indexOf(" ");
            this.endpoints.get(a)?._listenFailed(text.slice(0, space), text.slice(space + 1));
            break;
          }
          case EV_CONNECT_ERROR: {
            const text = box.text(i);
            const space = text.indexOf(" ");
            this.endpoints.get(a)?._connectFailed?.(text.slice(0, space), text.slice(space + 1), records[i + 3]!);
            break;
          }
          case EV_SERVER_CLOSED:
            this.endpoints.get(a)?._closed();
            break;
          case EV_LOG:
            logLine(a, box.text(i));
            break;
          case EV_STOPPED:
            live.delete(this);
            this.native.join();
            this.holds = 0;
            forgetLogListener(this.onLogLevels);
            if (a === 1) {
              // libwebsockets never started: nothing registered can be served.
              this.stopping = true;
              if (current === this) current = undefined;
              for (const endpoint of [...this.endpoints.values()]) {
                endpoint._listenFailed("ECONTEXT", "listen ECONTEXT: the I/O thread could not create its libwebsockets context");
              }
            }
            break;
        }
      } catch (err) {
        reportUncaught(err);
      }
    }
    this.dispatching = false;
    box.end();
    // The handlers' sends cross now, before the native side acknowledges this delivery (held
    // closes wait behind them) and wakes the I/O thread (sends made later, e.g. in the
    // handlers' microtasks, cork() again). Usually by the return value: the native side
    // copies that many bytes of the stage as soon as this returns. Releasing slots flushes the
    // stage first (`native`), so those sends still go before the releases.
    if (released) for (const slot of released) this.native.release(slot);
    return this.#stage.take();
  };
}

let current: Reactor | undefined;

// Every reactor of this environment whose I/O thread may still run. process.exit() runs no
// environment cleanup on the main thread: without this, the I/O threads would keep running lws
// and OpenSSL while exit() tears OpenSSL down. (A worker's reactors also stop in the addon's
// cleanup hook, which runs when the worker ends, also when the main thread exits.)
const live = new Set<Reactor>();
let exitHookInstalled = false;

function stopAllNow(): void {
  for (const reactor of [...live]) {
    try {
      reactor.stopNow();
    } catch {
      // the environment is ending: nothing left to report to
    }
  }
}

/** The reactor of this JS environment, started on first use. */
export function currentReactor(): Reactor {
  if (current === undefined || current.isStopping) current = new Reactor();
  return current;
}
