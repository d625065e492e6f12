// What a server socket (ServerWebSocket) and a client connection (ClientWebSocket) share: the
// native slot and the commands that name it, the exact bufferedAmount, sending with
// backpressure, and the drain watch. Each socket keeps its own state machine and asks this core
// only once it knows it is open.
import { COMPRESS, NOTIFY_DRAIN } from "./native.js";
import type { Reactor } from "./reactor.js";
import { BACKPRESSURE_HIGH_WATER_MARK, SendStatus } from "./send-status.js";

/** `readyState` values, as in the browser's WebSocket. */
export const ReadyState = {
  /** Not open yet (a `ServerWebSocket` is already open when handlers first see it). */
  CONNECTING: 0,
  /** Messages can be sent and received. */
  OPEN: 1,
  /** `close()` was called or a close frame arrived; the closing handshake is under way. */
  CLOSING: 2,
  /** Closed: the `close` handler has run or is running. */
  CLOSED: 3,
} as const;
export type ReadyState = (typeof ReadyState)[keyof typeof ReadyState];

/**
 * One native connection as JS drives it: its slot on a reactor, the bytes JS handed over, and
 * whether a drain event is asked for. bufferedAmount is exact and synchronous: bytes handed to
 * native code by send/ping/publish plus the slot's shared counter, which the I/O thread lowers
 * as it writes (and raises for a broadcast at fan-out).
 */
export class SocketCore {
  readonly #reactor: Reactor;
  #slot: number; // -1 once closed
  // Bytes handed to native code (the shared counter subtracts what was written); once closed,
  // the final bufferedAmount (one field for both: 10k idle sockets are 10k SocketCores).
  #sent = 0;
  #drainWanted = false;

  /**
   * Small sends are staged for one native call per turn (reactor.send), a server's and a
   * client's alike: a client's frames are masked by the I/O thread when it writes them.
   */
  constructor(reactor: Reactor, slot: number) {
    this.#reactor = reactor;
    this.#slot = slot;
  }

  /** The slot that names this connection in native commands; -1 once closed. */
  get slot(): number {
    return this.#slot;
  }

  /** Bytes queued and not written yet, while the connection is live (slot >= 0). */
  buffered(): number {
    return this.#sent + this.#reactor.counter(this.#slot);
  }

  /** bufferedAmount: live while the connection is, after close the bytes that were never written. */
  get bufferedAmount(): number {
    if (this.#slot < 0) return this.#sent;
    return this.#sent + this.#reactor.counter(this.#slot);
  }

  /**
   * Queues one message (the caller checked the arguments, that the connection is open, and its
   * own limits). `buffered` is what the connection held before it: above the high-water mark the
   * message is still sent, the result is `BACKPRESSURE`, and a drain event is asked for with it.
   */
  send(bytes: string | ArrayBufferView, isBinary: boolean, compress: boolean, buffered: number): SendStatus {
    const pressured = buffered > BACKPRESSURE_HIGH_WATER_MARK;
    let flags = compress ? COMPRESS : 0;
    if (pressured && !this.#drainWanted) {
      this.#drainWanted = true;
      flags |= NOTIFY_DRAIN;
    }
    this.#sent += this.#reactor.send(this.#slot, bytes, isBinary, flags);
    return pressured ? SendStatus.BACKPRESSURE : SendStatus.SUCCESS;
  }

  /** Queues a ping (payload checked), in order with the messages before it. */
  ping(payload: string | ArrayBufferView): void {
    const reactor = this.#reactor;
    this.#sent += reactor.native.ping(this.#slot, payload);
    reactor.cork();
  }

  /** Counts `bytes` queued for this connection by someone else (a publish) in bufferedAmount. */
  counted(bytes: number): void {
    this.#sent += bytes;
  }

  /** Asks the I/O thread for a drain event once what is queued now is written (once until it comes). */
  askForDrain(): void {
    if (this.#drainWanted) return;
    this.#drainWanted = true;
    this.#reactor.native.watchDrain(this.#slot);
  }

  /** A drain event arrived: the next backpressure asks for a new one. */
  drained(): void {
    this.#drainWanted = false;
  }

  /** Starts the closing handshake after what is queued; `discardQueue` drops that instead. */
  close(code: number, reason: string, discardQueue?: boolean): void {
    if (discardQueue === undefined) this.#reactor.native.close(this.#slot, code, reason);
    else this.#reactor.native.close(this.#slot, code, reason, discardQueue);
  }

  /** Drops the connection without a closing handshake. */
  terminate(): void {
    this.#reactor.native.terminate(this.#slot);
  }

  /** Stops (`true`) or restarts (`false`) reading the socket. */
  holdReads(hold: boolean): void {
    this.#reactor.native.holdReads(this.#slot, hold);
  }

  /** Joins `topic` natively (server sockets). */
  subscribe(topic: string): void {
    this.#reactor.native.subscribe(this.#slot, topic);
  }

  /** Leaves `topic` natively (server sockets). */
  unsubscribe(topic: string): void {
    this.#reactor.native.unsubscribe(this.#slot, topic);
  }

  /** The connection is gone (`counter`: its final shared counter): the slot is no longer used. */
  closed(counter: number): void {
    this.#sent += counter;
    this.#slot = -1;
  }
}
