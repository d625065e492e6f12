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
  RECORD_WORDS,
  type NativeReactor,
} from "./native.js";
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

const EMPTY = Buffer.alloc(0);
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
  readonly native: NativeReactor;
  private readonly endpoints = new Map<number, Endpoint>();
  private readonly sockets: (SocketEvents | undefined)[] = [];
  private readonly counters: Float64Array[] = [];
  private nextId = 1;
  private holds = 0;
  private stopping = false;

  private readonly onLogLevels = (mask: number): void => this.native.setLogLevels(mask);

  constructor() {
    this.native = new addon.Reactor(this.dispatch, logLevelMask(this.onLogLevels));
    this.native.unref(); // only holds keep the process alive (see hold())
  }

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

  private readonly dispatch = (records: Uint32Array, slab: Buffer | undefined, base: number, large: Buffer[] | undefined): void => {
    let released: number[] | undefined;
    for (let i = 0; i < records.length; i += RECORD_WORDS) {
      const type = records[i]!;
      const slot = records[i + 1]!;
      const a = records[i + 2]!;
      try {
        switch (type) {
          case EV_MESSAGE: {
            const len = records[i + 5]!;
            const off = records[i + 4]!;
            const data = records[i + 6] ? large![off]! : len === 0 ? EMPTY : slab!.subarray(base + off, base + off + len);
            this.sockets[slot]?._message(data, a === 1);
            break;
          }
          case EV_OPEN: {
            const endpoint = this.endpoints.get(a);
            if (this.counters[slot >>> CHUNK_SHIFT] === undefined) {
              this.counters[slot >>> CHUNK_SHIFT] = this.native.counters(slot >>> CHUNK_SHIFT)!;
            }
            if (endpoint) this.sockets[slot] = endpoint._open(slot, this.text(records, i, slab, base), records[i + 3]!);
            break;
          }
          case EV_UPGRADE:
          case EV_HTTP_REQUEST: {
            const len = records[i + 5]!;
            const off = base + records[i + 4]!;
            const bytes = records[i + 6] ? large![records[i + 4]!]! : len === 0 ? EMPTY : slab!.subarray(off, off + len);
            if (type === EV_UPGRADE) this.endpoints.get(a)?._upgrade?.(slot, bytes, records[i + 3]!);
            else this.endpoints.get(a)?._httpRequest?.(slot, bytes);
            break;
          }
          case EV_PEER_CERT: {
            const len = records[i + 5]!;
            const off = base + records[i + 4]!;
            const bytes = records[i + 6] ? large![records[i + 4]!]! : len === 0 ? EMPTY : slab!.subarray(off, off + len);
            this.endpoints.get(a)?._peerCert?.(slot, records[i + 3] === 1, bytes);
            break;
          }
          case EV_TLS_APPLIED:
            this.endpoints.get(a)?._tlsApplied?.(records[i + 3]!, this.text(records, i, slab, base));
            break;
          case EV_UPGRADE_GONE:
            this.endpoints.get(a)?._upgradeGone?.(slot);
            break;
          case EV_DRAIN:
            this.sockets[slot]?._drain();
            break;
          case EV_PONG:
          case EV_PING: {
            const len = records[i + 5]!;
            const off = base + records[i + 4]!;
            const data = len === 0 ? EMPTY : slab!.subarray(off, off + len);
            if (type === EV_PONG) this.sockets[slot]?._pong(data);
            else this.sockets[slot]?._ping(data);
            break;
          }
          case EV_CLOSE: {
            const socket = this.sockets[slot];
            this.sockets[slot] = undefined;
            (released ??= []).push(slot);
            socket?._closed(a, this.text(records, i, slab, base), this.counter(slot));
            break;
          }
          case EV_LISTENING:
            this.endpoints.get(a)?._listening(records[i + 3]!);
            break;
          case EV_LISTEN_ERROR: {
            const text = this.text(records, i, slab, base);
            const space = text.indexOf(" ");
            this.endpoints.get(a)?._listenFailed(text.slice(0, space), text.slice(space + 1));
            break;
          }
          case EV_CONNECT_ERROR: {
            const text = this.text(records, i, slab, base);
            const space = text.indexOf(" ");
            this.endpoints.get(a)?._connectFailed?.(text.slice(0, space), text.slice(space + 1), records[i + 3]!);
            break;
          }
          case EV_SERVER_CLOSED:
            this.endpoints.get(a)?._closed();
            break;
          case EV_LOG:
            logLine(a, this.text(records, i, slab, base));
            break;
          case EV_STOPPED:
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
    if (released) for (const slot of released) this.native.release(slot);
  };

  private text(records: Uint32Array, i: number, slab: Buffer | undefined, base: number): string {
    const len = records[i + 5]!;
    if (len === 0 || !slab) return "";
    const off = base + records[i + 4]!;
    return slab.toString("utf8", off, off + len);
  }
}

let current: Reactor | undefined;

/** The reactor of this JS environment, started on first use. */
export function currentReactor(): Reactor {
  if (current === undefined || current.isStopping) current = new Reactor();
  return current;
}
