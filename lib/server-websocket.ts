// The server side of one connection, as handlers see it.
import type { SocketEvents } from "./reactor.js";
import type { PeerCertificate } from "./tls-options.js";
import { checkClose } from "./close-codes.js";
import { checkTopic, pingPayload, sendArgs, type SendData } from "./send-args.js";
import { BACKPRESSURE_HIGH_WATER_MARK, PublishStatus, SendStatus } from "./send-status.js";
import { ReadyState, type SocketCore } from "./socket-core.js";
import { HOT, type Subscription, type TopicMember } from "./topic-account.js";

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * What a socket needs from its server, and all it may touch there: the backpressure policy, the
 * topic registry, and the handlers. The server hands every socket the same one.
 * @internal
 */
export interface SocketHost<T> {
  /** Bytes a socket may buffer before sends are dropped. */
  readonly maxBackpressure: number;
  /** Over `maxBackpressure`, close with 1008 instead of dropping. */
  readonly closeOnBackpressureLimit: boolean;
  /** A send was dropped (counted in `stats().dropped`). */
  droppedSend(): void;
  /** `ws` joins `topic`: its subscription, kept by the socket. */
  join(topic: string, ws: ServerWebSocket<T>): Subscription<ServerWebSocket<T>>;
  /** `ws` leaves `topic` (it settled its backlog from it). */
  leave(topic: string, ws: ServerWebSocket<T>): void;
  /** Publishes to `topic`'s subscribers but `sender`. */
  publish(topic: string, data: string | ArrayBufferView, isBinary: boolean, sender: ServerWebSocket<T>, compress: boolean): PublishStatus;
  message(ws: ServerWebSocket<T>, data: Buffer, isBinary: boolean): void;
  drain(ws: ServerWebSocket<T>): void;
  pong(ws: ServerWebSocket<T>, data: Buffer): void;
  ping(ws: ServerWebSocket<T>, data: Buffer): void;
  /** The socket closed: the `close` handler runs. */
  closed(ws: ServerWebSocket<T>, code: number, reason: string): void;
}

/**
 * One accepted connection. Created by the server before the `open` handler runs; valid until
 * the `close` handler has returned, and harmless after that: `send()` answers
 * `SendStatus.CLOSED`, `close()` and `terminate()` do nothing.
 *
 * @typeParam T - the type of {@link ServerWebSocket.data}
 */
export class ServerWebSocket<T = unknown> implements SocketEvents, TopicMember {
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

  #core: SocketCore;
  #host: SocketHost<T>;
  #state: ReadyState = ReadyState.OPEN;
  // What few sockets use, allocated on first use: one field instead of two (10k idle sockets
  // are 10k ServerWebSockets). `subs` mirrors the native subscriptions for synchronous
  // queries; each also holds this socket's backlog from its topic (publishes not yet folded
  // into the core's count: see topic-account.ts).
  #rare: { subs?: Map<string, Subscription<ServerWebSocket<T>>>; peerCertificate?: PeerCertificate } | undefined;

  /** @internal */
  constructor(core: SocketCore, host: SocketHost<T>, remoteAddress: string, protocol: string, url: string, headers?: Record<string, string>) {
    this.#core = core;
    this.#host = host;
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
    return this.#rare?.peerCertificate;
  }

  /** @internal */
  _setPeerCertificate(cert: PeerCertificate): void {
    (this.#rare ??= {}).peerCertificate = cert;
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
    if (this.#rare?.subs !== undefined) this.#settle();
    return this.#core.bufferedAmount;
  }

  // Folds what this socket's topics published since it last looked into its own count.
  #settle(): void {
    let backlog = 0;
    for (const sub of this.#rare!.subs!.values()) {
      const published = sub.account.published;
      backlog += published - sub.base;
      sub.base = published;
    }
    if (backlog !== 0) this.#core.counted(backlog);
  }

  // Exact bufferedAmount while the socket is live.
  #buffered(): number {
    if (this.#rare?.subs !== undefined) this.#settle();
    return this.#core.buffered();
  }

  // After a send or ping: at HOT or more, every publish to its topics looks at this socket.
  #heat(): void {
    if (this.#core.buffered() < HOT) return;
    for (const sub of this.#rare!.subs!.values()) sub.account.heat(this);
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
    const bytes = sendArgs("ws.send(data, isBinary?, compress?)", data, isBinary, compress);
    if (this.#state !== ReadyState.OPEN) return SendStatus.CLOSED;
    const core = this.#core;
    const buffered = this.#buffered();
    const host = this.#host;
    if (buffered >= host.maxBackpressure) {
      if (host.closeOnBackpressureLimit) {
        this.#state = ReadyState.CLOSING;
        core.close(1008, "backpressure limit", true);
      } else {
        core.askForDrain();
      }
      host.droppedSend();
      return SendStatus.DROPPED;
    }
    const status = core.send(bytes, isBinary, compress, buffered);
    if (this.#rare?.subs !== undefined) this.#heat();
    return status;
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
    this.#core.close(code, reason);
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
    this.#core.ping(payload);
    if (this.#rare?.subs !== undefined) this.#heat();
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
    if (this.#state !== ReadyState.OPEN || this.#rare?.subs?.has(topic)) return false;
    ((this.#rare ??= {}).subs ??= new Map()).set(topic, this.#host.join(topic, this));
    this.#core.subscribe(topic);
    return true;
  }

  /** @returns true if it was subscribed. */
  unsubscribe(topic: string): boolean {
    checkTopic(topic);
    const sub = this.#rare?.subs?.get(topic);
    if (sub === undefined) return false;
    // What the topic published so far still reaches this socket (the fan-out runs before the
    // unsubscribe, in command order): it stays counted.
    const backlog = sub.account.published - sub.base;
    if (backlog !== 0) this.#core.counted(backlog);
    this.#rare!.subs!.delete(topic);
    if (this.#rare!.subs!.size === 0) this.#rare!.subs = undefined;
    this.#host.leave(topic, this);
    if (this.#state !== ReadyState.CLOSED) this.#core.unsubscribe(topic);
    return true;
  }

  /** Whether this socket is subscribed to `topic`. */
  isSubscribed(topic: string): boolean {
    return this.#rare?.subs?.has(topic) ?? false;
  }

  /** The topics this socket is subscribed to. */
  get topics(): string[] {
    const subs = this.#rare?.subs;
    return subs ? [...subs.keys()] : [];
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
    const bytes = sendArgs("ws.publish(topic, data, isBinary?, compress?)", data, isBinary, compress);
    if (this.#state !== ReadyState.OPEN) return PublishStatus.NOT_PUBLISHED;
    return this.#host.publish(topic, bytes, isBinary, this, compress);
  }

  /** @internal The slot that names this socket in native commands. */
  get _slot(): number {
    return this.#core.slot;
  }

  /** @internal Exact bufferedAmount for its topics' publishes; -1 once closed. */
  _bufferedNow(): number {
    return this.#state === ReadyState.CLOSED ? -1 : this.#buffered();
  }

  /** @internal It holds the high-water mark after a publish: a drain event is to follow. */
  _watchDrain(): void {
    if (this.#state === ReadyState.OPEN) this.#core.askForDrain();
  }

  /**
   * @internal Whether `bytes` more (a broadcast, counted natively at fan-out) leave the socket
   * at the high-water mark or above; if so a drain watch is set.
   */
  _pressuredWith(bytes: number): boolean {
    if (this.#state === ReadyState.CLOSED) return false;
    if (this.#buffered() + bytes < BACKPRESSURE_HIGH_WATER_MARK) return false;
    if (this.#state === ReadyState.OPEN) this.#core.askForDrain();
    return true;
  }

  /** Drops the connection at once, without a closing handshake; `close` reports 1006. */
  terminate(): void {
    if (this.#state === ReadyState.CLOSED) return;
    this.#state = ReadyState.CLOSING;
    this.#core.terminate();
  }

  /** @internal */
  _message(data: Buffer, isBinary: boolean): void {
    this.#host.message(this, data, isBinary);
  }

  /** @internal */
  _drain(): void {
    const core = this.#core;
    core.drained();
    // The I/O thread wrote all it had, but publishes made since (counted here, not fanned out
    // yet) may still hold the socket at the high-water mark: then the drain is still to come.
    if (this.#state === ReadyState.OPEN && this.#buffered() >= BACKPRESSURE_HIGH_WATER_MARK) {
      core.askForDrain();
      return;
    }
    this.#host.drain(this);
  }

  /** @internal */
  _pong(data: Buffer): void {
    this.#host.pong(this, data);
  }

  /** @internal */
  _ping(data: Buffer): void {
    this.#host.ping(this, data);
  }

  /** @internal */
  _closed(code: number, reason: string, counter: number): void {
    const subs = this.#rare?.subs;
    if (subs !== undefined) this.#settle(); // publishes made until now stay counted
    this.#core.closed(counter);
    this.#state = ReadyState.CLOSED;
    if (subs !== undefined) {
      this.#rare!.subs = undefined; // the native side dropped them with the connection
      for (const topic of subs.keys()) this.#host.leave(topic, this);
    }
    this.#host.closed(this, code, reason);
  }
}
