// connect() and ClientWebSocket: outgoing connections on the same I/O thread as the servers.
import { EventEmitter } from "node:events";
import { checkClose } from "./close-codes.js";
import {
  parseTarget,
  resolveConnectOptions,
  resolveProxy,
  type ConnectOptions,
  type ProxyTarget,
  type ResolvedConnectOptions,
  type Target,
} from "./client-options.js";
import { ConnectError, connectFailure } from "./errors.js";
import { Keepalive } from "./keepalive.js";
import { reopensAfter, retriesAfter, retryDelay } from "./reconnect.js";
import { resolveHost } from "./resolve-host.js";
import { currentReactor, reportUncaught, type Endpoint, type Reactor, type SocketEvents } from "./reactor.js";
import type { ClientWebSocketEvents } from "./client-events.js";
import { messagesOf, type ClientMessage } from "./client-messages.js";
import { pingPayload, sendArgs, type SendData } from "./send-args.js";
import { SendStatus } from "./send-status.js";
import { ReadyState, SocketCore } from "./socket-core.js";

// "waiting": a reconnect is scheduled.
type Phase = "resolving" | "connecting" | "open" | "closing" | "waiting" | "closed";

/**
 * One client connection, resolved by {@link connect} once the handshake is complete. Messages
 * arrive as `message` events (`(data: Buffer, isBinary: boolean)`, like `ws`). While open it
 * keeps the process alive unless `unref()`'d; once closed it never does, and when the last
 * server and client of this thread are closed the I/O thread stops.
 */
export class ClientWebSocket extends EventEmitter<ClientWebSocketEvents> implements Endpoint {
  /** The URL connected to (normalised). */
  readonly url: string;

  #options: ResolvedConnectOptions;
  #target: Target;
  #phase: Phase = "resolving";
  #reactor?: Reactor;
  #id = 0;
  #core?: SocketCore; // the connection's slot and bufferedAmount; a new one for each (re)open
  #protocol = "";
  #extensions = "";
  #refed = true;
  #holding = false;
  #abortRequested = false;
  #closeRequested = false; // close()/terminate() was called: never reconnect
  #everOpened = false;
  #failures = 0; // consecutive failed attempts (or the drop) since the last open
  #retryTimer?: NodeJS.Timeout;
  #readsHeld = false; // a stream consumer is full (see _holdReads)
  #abortCause: unknown; // the signal's reason, once options.signal aborted
  #proxy: ProxyTarget | undefined;
  #heard = 0; // bumped by everything received; the keepalive timer compares it
  #keepalive?: Keepalive;
  #signalCleanup?: () => void;
  #held?: (() => void)[]; // events waiting for the first listeners (see _open)
  #settle?: { resolve(ws: ClientWebSocket): void; reject(err: Error): void };
  readonly #opened: Promise<ClientWebSocket>;

  /** @internal Use {@link connect}. */
  constructor(target: Target, options: ResolvedConnectOptions) {
    super();
    this.url = target.url;
    this.#target = target;
    this.#options = options;
    // A Unix domain socket is local: no proxy.
    this.#proxy = target.socketPath === undefined ? resolveProxy(options.proxy, target) : undefined;
    this.#opened = new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    const signal = options.signal;
    if (signal) {
      const onAbort = (): void => this.#aborted(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      this.#signalCleanup = () => signal.removeEventListener("abort", onAbort);
    }
  }

  // options.signal aborted: stop connecting or waiting, or close an open connection for good.
  #aborted(reason: unknown): void {
    this.#abortCause = reason ?? new Error("aborted");
    if (this.#phase === "open") {
      this.#closeRequested = true;
      this.close(1000);
    } else if (this.#phase === "waiting") {
      // The signal ends a reconnect wait as a failed reconnect (close() ends it silently).
      this.#closeRequested = true;
      this.#stopRetrying();
      this.#signalCleanup?.();
      this.emit("reconnectFailed", new ConnectError("aborted", "EABORTED", "aborted by the signal", this.url, 0, { cause: this.#abortCause }));
    } else {
      this.#stopPending();
    }
  }

  /** @internal Resolves once open; rejects with {@link ConnectError}. */
  get _opened(): Promise<ClientWebSocket> {
    return this.#opened;
  }

  /** `CONNECTING` (0) until open, `OPEN` (1), `CLOSING` (2) after `close()`, `CLOSED` (3) once the `close` event fired or the connect failed. */
  get readyState(): ReadyState {
    switch (this.#phase) {
      case "resolving":
      case "connecting":
      case "waiting":
        return ReadyState.CONNECTING;
      case "open":
        return ReadyState.OPEN;
      case "closing":
        return ReadyState.CLOSING;
      default:
        return ReadyState.CLOSED;
    }
  }

  /** The subprotocol the server chose, or `""`. */
  get protocol(): string {
    return this.#protocol;
  }

  /** The extensions the server accepted (`Sec-WebSocket-Extensions`), or `""`. */
  get extensions(): string {
    return this.#extensions;
  }

  /**
   * Bytes accepted by `send()` and not yet written to the socket; exact and synchronous (the
   * I/O thread updates shared memory as it writes). After close, the bytes never written.
   */
  get bufferedAmount(): number {
    return this.#core?.bufferedAmount ?? 0;
  }

  /**
   * Queues one message: strings as text, binary data as binary unless `isBinary` says
   * otherwise. The bytes are copied once; you may reuse `data` at once.
   *
   * @param compress - with `perMessageDeflate` accepted by the server, compress the message (on
   *   the I/O thread) if it is at least 1 KiB. Default true.
   * @returns `SendStatus.SUCCESS`, `BACKPRESSURE` (accepted, but more than 64 KiB are waiting:
   *   wait for `drain`), or `CLOSED` (not open: nothing is sent).
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) for data that is not a string or bytes, and for
   *   `isBinary`/`compress` that are not booleans (e.g. `ws`'s `send(data, { binary })` or
   *   `send(data, callback)`), whatever the connection's state.
   */
  send(data: SendData, isBinary: boolean = typeof data !== "string", compress: boolean = true): SendStatus {
    const bytes = sendArgs("ws.send(data, isBinary?, compress?)", data, isBinary, compress);
    const core = this.#core;
    if (this.#phase !== "open" || core === undefined || core.slot < 0) return SendStatus.CLOSED;
    return core.send(bytes, isBinary, compress, core.buffered());
  }

  /**
   * Sends a ping (at most 125 bytes) in order with the messages before it; a `pong` event
   * reports the answer if it carries a payload.
   * @returns false if the connection is not open.
   * @throws RangeError (`ERR_OUT_OF_RANGE`) for a payload over 125 bytes, TypeError
   *   (`ERR_INVALID_ARG_TYPE`) for one that is not a string or bytes.
   */
  ping(data: SendData = "ping"): boolean {
    const payload = pingPayload(data);
    const core = this.#core;
    if (this.#phase !== "open" || core === undefined || core.slot < 0) return false;
    core.ping(payload);
    return true;
  }

  /**
   * Starts the closing handshake after what is queued; the connection is dropped if the server
   * has not answered within `closeTimeout`. While connecting, gives up (connect rejects with
   * `reason: "aborted"`).
   * @param code - 1000 (default), 1001-1003, 1007-1014 or 3000-4999
   * @param reason - at most 123 bytes of UTF-8
   */
  close(code: number = 1000, reason: string = ""): void {
    checkClose(code, reason);
    this._close(code, reason);
  }

  /** @internal close() without the checks; `NO_STATUS` (1005) sends a close frame with no code. */
  _close(code: number, reason: string): void {
    if (this.#stopPending()) return;
    const core = this.#core;
    if (this.#phase !== "open" || core === undefined || core.slot < 0) return;
    this.#phase = "closing";
    this.#syncHold();
    core.close(code, reason);
  }

  // close()/terminate() before the connection is open: no reconnect after this; ends a retry
  // wait or an attempt in progress. True if there was one (nothing more to do).
  #stopPending(): boolean {
    this.#closeRequested = true;
    if (this.#phase === "waiting") {
      this.#stopRetrying();
      return true;
    }
    if (this.#phase === "resolving" || this.#phase === "connecting") {
      this.#abort();
      return true;
    }
    return false;
  }

  /** Drops the connection at once, without a closing handshake (`close` reports 1006). */
  terminate(): void {
    if (this.#stopPending()) return;
    const core = this.#core;
    if ((this.#phase !== "open" && this.#phase !== "closing") || core === undefined || core.slot < 0) return;
    this.#phase = "closing";
    this.#syncHold();
    core.terminate();
  }

  /**
   * The messages from now on, for `for await (const { data, isBinary } of ws)`. The loop ends
   * when the client closes for good (not on a `reconnect` client's temporary drop); `break` stops listening and leaves the connection open.
   * While the loop body is busy messages queue up; past 16 of them the socket is no longer
   * read (the server sees TCP backpressure) until the loop catches up.
   */
  [Symbol.asyncIterator](): AsyncGenerator<ClientMessage, void, undefined> {
    return messagesOf(this);
  }

  /** @internal A stream consumer is full (`true`) or wants more (`false`): stop or restart reading the socket. */
  _holdReads(hold: boolean): void {
    if (this.#readsHeld === hold) return;
    this.#readsHeld = hold;
    const core = this.#core;
    if (this.#phase === "open" && core !== undefined && core.slot >= 0) core.holdReads(hold);
  }

  /** Lets the process exit while this connection is open. */
  unref(): this {
    this.#refed = false;
    this.#retryTimer?.unref();
    this.#syncHold();
    return this;
  }

  /** Undoes `unref()`: an open connection keeps the process alive (the default). */
  ref(): this {
    this.#refed = true;
    this.#retryTimer?.ref();
    this.#syncHold();
    return this;
  }

  /** @internal Resolves the name and asks the I/O thread to connect. */
  async _start(): Promise<void> {
    this.#phase = "resolving";
    if (this.#options.signal?.aborted) {
      this.#abortCause = this.#options.signal.reason;
      this.#closeRequested = true;
      this.#attemptFailed(new ConnectError("aborted", "EABORTED", "the signal was aborted", this.url));
      return;
    }
    const t = this.#target;
    // Through a proxy, the proxy resolves the server's name; we resolve the proxy's.
    const proxy = this.#proxy;
    const name = proxy ? proxy.hostname : t.hostname;
    // lws connects to a Unix domain socket for an address that starts with "+".
    const resolved = t.socketPath !== undefined ? `+${t.socketPath}` : resolveHost(name);
    const address = typeof resolved === "string" ? resolved : await resolved;
    if (typeof address !== "string") {
      const { code, cause } = address;
      this.#attemptFailed(new ConnectError("dns", code, `cannot resolve ${name}${proxy ? " (the proxy)" : ""} (${code})`, this.url, 0, { cause }));
      return;
    }
    if (this.#abortRequested) {
      this.#attemptFailed(new ConnectError("aborted", "EABORTED", "the connection attempt was aborted", this.url));
      return;
    }
    const reactor = currentReactor();
    this.#reactor = reactor;
    this.#id = reactor.add(this);
    this.#phase = "connecting";
    this.#syncHold();
    const o = this.#options;
    reactor.native.connect({
      id: this.#id,
      ...(proxy ? { address: t.hostname, proxyAddress: address, proxyPort: proxy.port } : { address }),
      host: t.host,
      port: t.port,
      path: t.path,
      origin: o.origin,
      protocols: o.protocols.join(", "),
      headers: o.headers,
      tls: t.tls,
      ca: o.ca,
      rejectUnauthorized: o.rejectUnauthorized,
      cert: o.cert,
      key: o.key,
      servername: o.servername,
      minVersion: o.minVersion,
      ciphers: o.ciphers,
      ciphersuites: o.ciphersuites,
      perMessageDeflate: o.perMessageDeflate,
      handshakeTimeoutMs: o.handshakeTimeout,
      maxPayloadLength: o.maxPayloadLength,
      closeTimeoutMs: o.closeTimeout,
    });
  }

  #abort(): void {
    if (this.#abortRequested) return;
    this.#abortRequested = true;
    if (this.#phase === "connecting") this.#reactor!.native.abortConnect(this.#id);
  }

  // One connect attempt failed: retry it (reconnect), or report the failure: connect()
  // rejects, or after an open, `reconnectFailed`.
  #attemptFailed(err: ConnectError): void {
    if (err.reason === "aborted" && this.#abortCause !== undefined && err.cause === undefined) {
      err = new ConnectError("aborted", "EABORTED", "aborted by the signal", this.url, 0, { cause: this.#abortCause });
    }
    if (!this.#abortRequested && !this.#closeRequested && retriesAfter(this.#options.reconnect, err, this.#failures)) {
      this.#failures++;
      this.#scheduleRetry();
      return;
    }
    this.#phase = "closed";
    this.#syncHold();
    this.#signalCleanup?.();
    if (this.#settle) {
      this.#settle.reject(err);
      this.#settle = undefined;
    } else {
      this.emit("reconnectFailed", err);
    }
  }

  #scheduleRetry(): void {
    const delay = retryDelay(this.#options.reconnect!, this.#failures);
    this.#phase = "waiting";
    this.#syncHold();
    // The timer keeps the process alive while waiting, unless unref()'d.
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this._start();
    }, delay);
    if (!this.#refed) this.#retryTimer.unref();
    this.emit("reconnecting", this.#failures, delay);
  }

  // close()/terminate() while a retry waits: nothing is open, so it is closed at once. The
  // caller asked for it: no `reconnectFailed` (its `close` event already came with the drop).
  #stopRetrying(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#phase = "closed";
    this.#syncHold();
  }

  // Endpoint: a client never listens.
  /** @internal */
  _listening(): void {}
  /** @internal The I/O thread could not start at all. */
  _listenFailed(code: string, message: string): void {
    this._connectFailed(code, message, 0);
  }
  /** @internal */
  _closed(): void {}

  /** @internal */
  _open(slot: number, text: string): SocketEvents {
    if (this.#abortRequested) {
      // close() while connecting crossed the handshake: the I/O thread terminates this
      // connection (abortConnect); it never opens for JS.
      const previous = this.#core; // a reconnect's dropped connection: its final bufferedAmount stays
      this.#core = new SocketCore(this.#reactor!, slot);
      this.#phase = "closing";
      this.#syncHold();
      const ignore = (): void => {};
      return {
        _message: ignore,
        _drain: ignore,
        _ping: ignore,
        _pong: ignore,
        _closed: () => {
          this.#core = previous;
          this.#reactor!.remove(this.#id);
          this.#attemptFailed(new ConnectError("aborted", "EABORTED", "the connection attempt was aborted", this.url));
        },
      };
    }
    const newline = text.indexOf("\n");
    const core = new SocketCore(this.#reactor!, slot);
    this.#core = core;
    this.#protocol = text.slice(0, newline);
    this.#extensions = text.slice(newline + 1);
    this.#phase = "open";
    this.#syncHold();
    this.#failures = 0;
    // A reopened connection starts reading; a consumer that is still full holds it again.
    if (this.#readsHeld) core.holdReads(true);
    const reopened = this.#everOpened;
    this.#everOpened = true;
    this.#settle?.resolve(this);
    this.#settle = undefined;
    // Events that arrive with the open (the same batch) wait until whoever awaited connect()
    // has run and attached listeners: after every microtask, in this loop iteration.
    this.#held = [];
    // A close the server sent with them waits until these handlers ran (and what they sent).
    const native = this.#reactor!.native;
    native.holdAcks(true);
    setImmediate(() => {
      const held = this.#held!;
      this.#held = undefined;
      for (const event of held) {
        try {
          event();
        } catch (err) {
          reportUncaught(err);
        }
      }
      this.#reactor!.native.holdAcks(false); // after what the held handlers sent
    });
    if (reopened) this.#deliver(() => this.emit("reconnect"));
    const { pingInterval, pongTimeout } = this.#options;
    if (pingInterval > 0) {
      this.#keepalive = new Keepalive(
        {
          isOpen: () => this.#phase === "open",
          heard: () => this.#heard,
          ping: () => this.ping("keepalive"),
          dead: () => this.#terminateForKeepalive(),
        },
        pingInterval,
        pongTimeout,
      );
    }
    // The connection's events (a separate object: Endpoint and SocketEvents both have _closed).
    return {
      // The hot path: no closure unless events are being held back.
      _message: (data, isBinary) => {
        this.#heard++;
        if (this.#held) this.#held.push(() => this.emit("message", data, isBinary));
        else this.emit("message", data, isBinary);
      },
      _drain: () =>
        this.#deliver(() => {
          core.drained();
          this.emit("drain");
        }),
      _ping: (data) => {
        this.#heard++;
        this.#deliver(() => this.emit("ping", data));
      },
      _pong: (data) => {
        this.#heard++;
        this.#deliver(() => this.emit("pong", data));
      },
      _closed: (code, reason, counter) => {
        this.#keepalive?.stop();
        this.#keepalive = undefined;
        // The slot is released after this dispatch: stop using it now, report the close in order.
        core.closed(counter);
        this.#deliver(() => this.#onClose(code, reason));
      },
    };
  }

  // A dead peer is a drop, not our close: a `reconnect` client reopens it.
  #terminateForKeepalive(): void {
    const core = this.#core;
    if (core === undefined || core.slot < 0) return;
    this.#phase = "closing";
    this.#syncHold();
    core.terminate();
  }

  #deliver(event: () => void): void {
    if (this.#held) this.#held.push(event);
    else event();
  }

  /** @internal */
  _connectFailed(code: string, message: string, status: number): void {
    this.#reactor!.remove(this.#id);
    // TLS failures come as "ETLS:<Node's code>" (CERT_HAS_EXPIRED, ERR_SSL_…), or plain ETLS.
    const tlsCode = code.startsWith("ETLS:") ? code.slice(5) : undefined;
    this.#attemptFailed(new ConnectError(tlsCode ? "tls" : connectFailure(code), tlsCode ?? code, message, this.url, status));
  }

  #onClose(code: number, reason: string): void {
    this.#phase = "closed";
    this.#syncHold();
    this.#reactor!.remove(this.#id);
    const reopen = !this.#closeRequested && reopensAfter(this.#options.reconnect, code);
    this.emit("close", code, reason, reopen);
    if (reopen && !this.#closeRequested) {
      // The drop counts as the first failure.
      this.#failures = 1;
      this.#scheduleRetry();
    } else {
      this.#signalCleanup?.();
    }
  }

  // The reactor's event loop reference: held while closing, and while connecting or open
  // unless unref()'d.
  #syncHold(): void {
    const p = this.#phase;
    // An unref()'d connection (WebSocket.unref() works before the open) never holds the
    // process, also not while it connects; closing is short and bounded, so it always does.
    const want = p === "closing" || ((p === "open" || p === "connecting") && this.#refed);
    if (want && !this.#holding) this.#reactor!.hold();
    else if (!want && this.#holding) this.#reactor!.unhold();
    this.#holding = want;
  }
}

/**
 * Opens a WebSocket connection on this thread's I/O thread (the one servers use).
 *
 * ```ts
 * const ws = await connect("ws://127.0.0.1:8080/chat", { protocols: ["chat"] });
 * ws.on("message", (data, isBinary) => console.log(data.toString()));
 * ws.send("hello");
 * ws.close();
 * ```
 *
 * @returns a promise for the open connection.
 * @throws (rejects with) `TypeError` (`ERR_INVALID_URL`) for a URL that is not ws:// or
 *   wss://, `TypeError`/`RangeError` for invalid options, `TlsConfigError` for an unusable
 *   `tls.ca`, {@link ConnectError} when the connection cannot be opened (`reason` says why:
 *   `dns`, `refused`, `network`, `tls`, `status` with `status`, `handshake`, `timeout`,
 *   `aborted`).
 */
export async function connect(url: string | URL, options: ConnectOptions = {}): Promise<ClientWebSocket> {
  const target = parseTarget(url);
  if (typeof target === "string") {
    const err = new TypeError(target);
    (err as TypeError & { code: string }).code = "ERR_INVALID_URL";
    throw err;
  }
  const ws = new ClientWebSocket(target, resolveConnectOptions(options));
  void ws._start();
  return ws._opened;
}
