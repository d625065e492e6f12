// The server side of one connection, as handlers see it.
import type { Reactor, SocketEvents } from "./reactor.js";
import type { Server } from "./server.js";
import type { PeerCertificate } from "./tls-options.js";
import { checkClose } from "./close-codes.js";
import { invalidType, outOfRange } from "./errors.js";
import { COMPRESS, NOTIFY_DRAIN } from "./native.js";
import { checkFlag, pingPayload, sendable } from "./send-args.js";
import { BACKPRESSURE_HIGH_WATER_MARK, PublishStatus, SendStatus } from "./send-status.js";

/** Topic names are non-empty strings of at most this many UTF-16 code units. */
export const MAX_TOPIC_LENGTH = 1024;

/** Throws `ERR_INVALID_ARG_TYPE` for a topic that is not a string, `ERR_OUT_OF_RANGE` for an empty or too long one. */
export function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== "string") throw invalidType("topic", "a string", topic, "argument");
  if (topic.length === 0 || topic.length > MAX_TOPIC_LENGTH) {
    throw outOfRange("topic", `1 to ${MAX_TOPIC_LENGTH} characters long`, topic);
  }
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** Data a socket can send: text as a string, bytes as any ArrayBuffer or view of one. */
export type SendData = string | ArrayBuffer | ArrayBufferView;

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
  /** The subprotocol the handshake agreed on (`Sec-WebSocket-Protocol`), or `""` for none. */
  readonly protocol: string;
  /**
   * The request target of the handshake: the path and the query string, e.g. `"/chat?room=1"`,
   * percent-decoded by libwebsockets (as the `upgrade` hook's `req.url`).
   */
  readonly url: string;
  /**
   * The request headers named in the server's `captureHeaders` option that the handshake
   * carried (names in lower case; a header sent more than once comes joined by lws). Empty
   * without that option.
   */
  readonly headers: Readonly<Record<string, string>>;

  #reactor: Reactor;
  #server: Server<T>;
  #slot: number;
  #state: ReadyState = ReadyState.OPEN;
  #sent = 0; // bytes handed to native code by send(); the shared counter subtracts what was written
  #finalBuffered = 0;
  #drainWanted = false;
  #topics: Set<string> | undefined; // mirror of the native subscriptions, for synchronous queries
  #peerCertificate: PeerCertificate | undefined;

  /** @internal */
  constructor(reactor: Reactor, server: Server<T>, slot: number, remoteAddress: string, protocol: string, url: string, headers?: Record<string, string>) {
    this.#reactor = reactor;
    this.#server = server;
    this.#slot = slot;
    this.remoteAddress = remoteAddress;
    this.protocol = protocol;
    this.url = url;
    this.headers = headers ?? NO_HEADERS;
  }

  /** The query string of {@link ServerWebSocket.url}, parsed (a fresh object on each read). */
  get query(): URLSearchParams {
    const q = this.url.indexOf("?");
    return new URLSearchParams(q < 0 ? "" : this.url.slice(q + 1));
  }

  /**
   * On a `wss://` server with `tls.requestCert`: the certificate the client presented (read
   * natively when the connection opened), else undefined.
   */
  get peerCertificate(): PeerCertificate | undefined {
    return this.#peerCertificate;
  }

  /** @internal */
  _setPeerCertificate(cert: PeerCertificate): void {
    this.#peerCertificate = cert;
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
   * @param compress - with `perMessageDeflate` negotiated on this socket, compress the message
   *   (on the I/O thread) if it is at least the `threshold` long. Default true; ignored otherwise.
   * @returns `SendStatus.SUCCESS`, `BACKPRESSURE` (accepted; wait for the `drain` handler),
   *   `DROPPED` (over `maxBackpressure`; not sent) or `CLOSED`.
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) for data that is not a string or bytes, and for
   *   `isBinary`/`compress` that are not booleans (e.g. `ws`'s `send(data, { binary })` or
   *   `send(data, callback)`), whatever the socket's state.
   */
  send(data: SendData, isBinary: boolean = typeof data !== "string", compress: boolean = true): SendStatus {
    const bytes = sendable("ws.send(data, isBinary?, compress?)", data);
    checkFlag("ws.send(data, isBinary?, compress?)", "isBinary", isBinary);
    checkFlag("ws.send(data, isBinary?, compress?)", "compress", compress);
    if (this.#state !== ReadyState.OPEN) return SendStatus.CLOSED;
    const buffered = this.#sent + this.#reactor.counter(this.#slot);
    if (buffered >= this.#server.maxBackpressure) {
      if (this.#server.closeOnBackpressureLimit) {
        this.#state = ReadyState.CLOSING;
        this.#reactor.native.close(this.#slot, 1008, "backpressure limit", true);
      } else {
        this.#askForDrain();
      }
      this.#server._droppedSend();
      return SendStatus.DROPPED;
    }
    const pressured = buffered > BACKPRESSURE_HIGH_WATER_MARK;
    let flags = compress ? COMPRESS : 0;
    if (pressured && !this.#drainWanted) {
      this.#drainWanted = true;
      flags |= NOTIFY_DRAIN;
    }
    this.#sent += this.#reactor.send(this.#slot, bytes, isBinary, flags);
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

  /**
   * Sends a ping (payload at most 125 bytes), in order with the messages sent before it; the
   * `pong` handler sees the answer.
   * @returns false if the socket is not open.
   * @throws RangeError (`ERR_OUT_OF_RANGE`) for a payload over 125 bytes, TypeError
   *   (`ERR_INVALID_ARG_TYPE`) for one that is not a string or bytes.
   */
  ping(data: SendData = ""): boolean {
    const payload = pingPayload(data);
    if (this.#state !== ReadyState.OPEN) return false;
    this.#sent += this.#reactor.native.ping(this.#slot, payload);
    this.#reactor.cork();
    return true;
  }

  /**
   * Subscribes to `topic`: `server.publish(topic, …)` and other sockets' `ws.publish(topic, …)`
   * reach this socket. Subscriptions end with the connection.
   * @returns true if it was not subscribed yet.
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) for a topic that is not a string, RangeError
   *   (`ERR_OUT_OF_RANGE`) for `""` or one over 1024 characters.
   */
  subscribe(topic: string): boolean {
    checkTopic(topic);
    if (this.#state !== ReadyState.OPEN || this.#topics?.has(topic)) return false;
    (this.#topics ??= new Set()).add(topic);
    this.#server._subscribed(topic, this, true);
    this.#reactor.native.subscribe(this.#slot, topic);
    return true;
  }

  /** @returns true if it was subscribed. */
  unsubscribe(topic: string): boolean {
    checkTopic(topic);
    if (!this.#topics?.delete(topic)) return false;
    this.#server._subscribed(topic, this, false);
    if (this.#state !== ReadyState.CLOSED) this.#reactor.native.unsubscribe(this.#slot, topic);
    return true;
  }

  /** Whether this socket is subscribed to `topic`. */
  isSubscribed(topic: string): boolean {
    return this.#topics?.has(topic) ?? false;
  }

  /** The topics this socket is subscribed to. */
  get topics(): string[] {
    return this.#topics ? [...this.#topics] : [];
  }

  /**
   * Publishes to every subscriber of `topic` except this socket (see `server.publish`, also for
   * backpressure).
   * @returns `PublishStatus.NOT_PUBLISHED` (0) if the socket is not open or nobody else is
   *   subscribed, else `SUCCESS` or `BACKPRESSURE`.
   * @throws as `server.publish` does, for invalid arguments.
   */
  publish(topic: string, data: SendData, isBinary: boolean = typeof data !== "string", compress: boolean = true): PublishStatus {
    checkTopic(topic);
    const bytes = sendable("ws.publish(topic, data, isBinary?, compress?)", data);
    checkFlag("ws.publish(topic, data, isBinary?, compress?)", "isBinary", isBinary);
    checkFlag("ws.publish(topic, data, isBinary?, compress?)", "compress", compress);
    if (this.#state !== ReadyState.OPEN) return PublishStatus.NOT_PUBLISHED;
    return this.#server._publish(topic, bytes, isBinary, this, compress);
  }

  /** @internal The slot that names this socket in native commands. */
  get _slot(): number {
    return this.#slot;
  }

  /**
   * @internal A publish or broadcast of `bytes` will reach this socket: it counts in
   * bufferedAmount from now on. True if that leaves the socket at the high-water mark or above
   * (a drain watch is then set).
   */
  _published(bytes: number): boolean {
    if (this.#state === ReadyState.CLOSED) return false;
    this.#sent += bytes;
    return this._pressuredWith(0);
  }

  /**
   * @internal Whether `bytes` more (a broadcast, counted natively at fan-out) leave the socket
   * at the high-water mark or above; if so a drain watch is set.
   */
  _pressuredWith(bytes: number): boolean {
    if (this.#state === ReadyState.CLOSED) return false;
    if (this.#sent + this.#reactor.counter(this.#slot) + bytes < BACKPRESSURE_HIGH_WATER_MARK) return false;
    if (this.#state === ReadyState.OPEN) this.#askForDrain();
    return true;
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
    // The I/O thread wrote all it had, but publishes made since (counted here, not fanned out
    // yet) may still hold the socket at the high-water mark: then the drain is still to come.
    if (this.#state === ReadyState.OPEN && this.bufferedAmount >= BACKPRESSURE_HIGH_WATER_MARK) {
      this.#askForDrain();
      return;
    }
    this.#server._drain(this);
  }

  /** @internal */
  _pong(data: Buffer): void {
    this.#server._pong(this, data);
  }

  /** @internal */
  _ping(data: Buffer): void {
    this.#server._ping(this, data);
  }

  /** @internal */
  _closed(code: number, reason: string, counter: number): void {
    this.#finalBuffered = this.#sent + counter;
    this.#state = ReadyState.CLOSED;
    if (this.#topics) {
      for (const topic of this.#topics) this.#server._subscribed(topic, this, false);
      this.#topics = undefined; // the native side dropped them with the connection
    }
    this.#server._closedSocket(this, code, reason);
  }
}
