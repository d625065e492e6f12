// The server side of one connection, as handlers see it.
import type { Reactor, SocketEvents } from "./reactor.js";
import type { Server } from "./server.js";
import { checkClose } from "./close-codes.js";
import { NOTIFY_DRAIN } from "./native.js";
import { BACKPRESSURE_HIGH_WATER_MARK, SendStatus } from "./send-status.js";

/** Data a socket can send: text as a string, bytes as any ArrayBuffer or view of one. */
export type SendData = string | ArrayBuffer | ArrayBufferView;

/** `readyState` values, as in the browser's WebSocket. */
export const ReadyState = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const;
export type ReadyState = (typeof ReadyState)[keyof typeof ReadyState];

/**
 * One accepted connection. Created by the server before the `open` handler runs; valid until
 * the `close` handler has returned, and harmless after that: `send()` answers
 * `SendStatus.CLOSED`, `close()` and `terminate()` do nothing.
 *
 * @typeParam T - the type of {@link ServerWebSocket.data}
 */
export class ServerWebSocket<T = unknown> implements SocketEvents {
  /** Your per-connection state; `undefined` until you set it (typically in `open`). */
  data: T = undefined as T;
  /** The peer's IP address. */
  readonly remoteAddress: string;

  #reactor: Reactor;
  #server: Server<T>;
  #slot: number;
  #state: ReadyState = ReadyState.OPEN;
  #sent = 0; // bytes handed to native code by send(); the shared counter subtracts what was written
  #finalBuffered = 0;
  #drainWanted = false;

  /** @internal */
  constructor(reactor: Reactor, server: Server<T>, slot: number, remoteAddress: string) {
    this.#reactor = reactor;
    this.#server = server;
    this.#slot = slot;
    this.remoteAddress = remoteAddress;
  }

  /** `ReadyState.OPEN` (1), `CLOSING` (2) after `close()`/`terminate()`, `CLOSED` (3) after the `close` handler. */
  get readyState(): ReadyState {
    return this.#state;
  }

  /**
   * Bytes accepted by `send()` that have not been written to the socket yet. Exact and
   * synchronous: the I/O thread updates a counter in memory shared with JS as it writes.
   * After close, the bytes that were never written.
   */
  get bufferedAmount(): number {
    if (this.#state === ReadyState.CLOSED) return this.#finalBuffered;
    return this.#sent + this.#reactor.counter(this.#slot);
  }

  /**
   * Queues one message. Strings go as text frames, binary data as binary frames, unless
   * `isBinary` says otherwise. The bytes are copied once; you may reuse `data` at once.
   *
   * @returns `SendStatus.SUCCESS`, `BACKPRESSURE` (accepted; wait for the `drain` handler),
   *   `DROPPED` (over `maxBackpressure`; not sent) or `CLOSED`.
   */
  send(data: SendData, isBinary: boolean = typeof data !== "string"): SendStatus {
    if (this.#state !== ReadyState.OPEN) return SendStatus.CLOSED;
    const buffered = this.#sent + this.#reactor.counter(this.#slot);
    if (buffered >= this.#server.maxBackpressure) {
      this.#askForDrain();
      return SendStatus.DROPPED;
    }
    const pressured = buffered > BACKPRESSURE_HIGH_WATER_MARK;
    let flags = 0;
    if (pressured && !this.#drainWanted) {
      this.#drainWanted = true;
      flags = NOTIFY_DRAIN;
    }
    let length: number;
    if (typeof data === "string") {
      length = Buffer.byteLength(data);
    } else if (data instanceof ArrayBuffer) {
      data = new Uint8Array(data);
      length = data.byteLength;
    } else if (ArrayBuffer.isView(data)) {
      length = data.byteLength;
    } else {
      throw new TypeError("send(data): data must be a string, an ArrayBuffer or an ArrayBufferView");
    }
    this.#reactor.native.send(this.#slot, data, isBinary, flags);
    this.#sent += length;
    return pressured ? SendStatus.BACKPRESSURE : SendStatus.SUCCESS;
  }

  /**
   * Starts the closing handshake once everything queued before it has been written.
   * @param code - 1000 (default), 1001-1003, 1007-1014 or 3000-4999
   * @param reason - at most 123 bytes of UTF-8
   * @throws RangeError/TypeError (`ERR_OUT_OF_RANGE`/`ERR_INVALID_ARG_TYPE`) for invalid arguments
   */
  close(code: number = 1000, reason: string = ""): void {
    checkClose(code, reason);
    if (this.#state !== ReadyState.OPEN) return;
    this.#state = ReadyState.CLOSING;
    this.#reactor.native.close(this.#slot, code, reason);
  }

  /** Drops the connection at once, without a closing handshake; `close` reports 1006. */
  terminate(): void {
    if (this.#state === ReadyState.CLOSED) return;
    this.#state = ReadyState.CLOSING;
    this.#reactor.native.terminate(this.#slot);
  }

  #askForDrain(): void {
    if (this.#drainWanted) return;
    this.#drainWanted = true;
    this.#reactor.native.watchDrain(this.#slot);
  }

  /** @internal */
  _message(data: Buffer, isBinary: boolean): void {
    this.#server._message(this, data, isBinary);
  }

  /** @internal */
  _drain(): void {
    this.#drainWanted = false;
    this.#server._drain(this);
  }

  /** @internal */
  _closed(code: number, reason: string, counter: number): void {
    this.#finalBuffered = this.#sent + counter;
    this.#state = ReadyState.CLOSED;
    this.#server._closedSocket(this, code, reason);
  }
}
