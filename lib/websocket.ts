// A WHATWG WebSocket (the browser's and Node 22's global) on top of ClientWebSocket, so code
// written for those runs unchanged.
import { ClientWebSocket } from "./client.js";
import { parseTarget, protocolProblem, resolveConnectOptions, type ConnectOptions } from "./client-options.js";
import { MAX_CLOSE_REASON_BYTES, NO_STATUS } from "./close-codes.js";
import { invalidType, type ConnectError } from "./errors.js";
import { reportUncaught } from "./reactor.js";

/** What `binaryType` selects for binary messages: Blobs (the default, as in browsers), ArrayBuffers or Node Buffers. */
export type BinaryType = "nodebuffer" | "arraybuffer" | "blob";

/** The `close` event (Node 20 has no global CloseEvent). */
export class CloseEvent extends Event {
  /** The close code (1006 when the connection dropped without a closing handshake). */
  readonly code: number;
  /** The close reason the peer sent, or ours if we closed first. */
  readonly reason: string;
  /** Whether the closing handshake completed. */
  readonly wasClean: boolean;
  constructor(type: string, init: { code?: number; reason?: string; wasClean?: boolean } = {}) {
    super(type);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? "";
    this.wasClean = init.wasClean ?? false;
  }
}

/** The `error` event; `error` is the {@link ConnectError} when connecting failed. */
export class ErrorEvent extends Event {
  /** The cause: a {@link ConnectError} when connecting failed. */
  readonly error: unknown;
  /** A description of the error. */
  readonly message: string;
  constructor(type: string, init: { error?: unknown; message?: string } = {}) {
    super(type);
    this.error = init.error;
    this.message = init.message ?? "";
  }
}

type Handler = ((event: Event) => unknown) | null;
const EVENTS = ["open", "message", "error", "close"] as const;

/**
 * `new WebSocket(url, protocols?)` as in browsers and Node 22: an `EventTarget` with `open`,
 * `message` (a `MessageEvent`; text as a string, binary per `binaryType`), `error` and `close`
 * (a {@link CloseEvent}) events and `onX` properties. Runs on this thread's lwsnode I/O thread.
 * A third argument takes {@link ConnectOptions} (headers, tls, …) beyond the standard.
 */
export class WebSocket extends EventTarget {
  /** `readyState` while the handshake is in progress. */
  static readonly CONNECTING = 0;
  /** `readyState` once open: messages flow. */
  static readonly OPEN = 1;
  /** `readyState` during the closing handshake. */
  static readonly CLOSING = 2;
  /** `readyState` once closed (or when connecting failed). */
  static readonly CLOSED = 3;
  /** {@inheritDoc WebSocket.CONNECTING} */
  readonly CONNECTING = 0;
  /** {@inheritDoc WebSocket.OPEN} */
  readonly OPEN = 1;
  /** {@inheritDoc WebSocket.CLOSING} */
  readonly CLOSING = 2;
  /** {@inheritDoc WebSocket.CLOSED} */
  readonly CLOSED = 3;

  /** The URL, normalised. */
  readonly url: string;
  #origin: string; // MessageEvent.origin: the URL's origin
  #ws: ClientWebSocket;
  #state = 0;
  #binaryType: BinaryType = "blob"; // the standard's default
  #blobChain: Promise<void> | undefined; // sends wait behind a Blob being read
  #pendingBlobBytes = 0;
  #afterClose = 0; // bytes "sent" once closing: counted, never sent (as the standard says)
  #closeCode = NO_STATUS; // what close() asked for
  #closeReason = "";

  constructor(url: string | URL, protocols: string | string[] = [], options: Omit<ConnectOptions, "protocols" | "reconnect"> = {}) {
    super();
    if (options !== null && typeof options === "object" && "reconnect" in options) {
      throw invalidType("reconnect", "absent: WebSocket does not reconnect (the standard object closes for good); use connect() with reconnect", options.reconnect);
    }
    const target = parseTarget(url);
    if (typeof target === "string") throw new DOMException(target, "SyntaxError");
    const list = typeof protocols === "string" ? [protocols] : [...protocols];
    const problem = protocolProblem(list);
    if (problem) throw new DOMException(problem, "SyntaxError");
    this.url = target.url;
    this.#origin = new URL(target.url).origin;
    this.#ws = new ClientWebSocket(target, resolveConnectOptions({ ...options, protocols: list }));
    this.#ws._opened.then(
      (ws) => this.#opened(ws),
      (err: ConnectError) => this.#failed(err),
    );
    void this.#ws._start();
  }

  /** `CONNECTING` (0), `OPEN` (1), `CLOSING` (2) or `CLOSED` (3). */
  get readyState(): number {
    return this.#state;
  }

  /** Bytes given to `send()` and not yet written to the socket (exact; Blobs count while they are read). */
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount + this.#pendingBlobBytes + this.#afterClose;
  }

  /** The subprotocol the server chose, `""` until open or if none. */
  get protocol(): string {
    return this.#ws.protocol;
  }

  /** The extensions the server accepted (`Sec-WebSocket-Extensions`), `""` if none. */
  get extensions(): string {
    return this.#ws.extensions;
  }

  /**
   * How binary messages arrive in `message` events: `"blob"` (the default, per the standard),
   * `"arraybuffer"`, or `"nodebuffer"` (a Buffer, the cheapest: no copy).
   */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }

  /** Unknown values are ignored, as in browsers. */
  set binaryType(value: BinaryType) {
    // As in browsers: an unknown value is ignored.
    if (value === "nodebuffer" || value === "arraybuffer" || value === "blob") this.#binaryType = value;
  }

  /** Queues a message. Throws `InvalidStateError` while connecting; ignored (but counted in bufferedAmount) once closing. */
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    if (this.#state === WebSocket.CONNECTING) throw new DOMException("WebSocket is still connecting", "InvalidStateError");
    if (data instanceof Blob) {
      if (this.#state !== WebSocket.OPEN) {
        this.#afterClose += data.size;
        return;
      }
      const size = data.size;
      this.#pendingBlobBytes += size;
      const previous = this.#blobChain ?? Promise.resolve();
      const chain: Promise<void> = previous
        .then(() => data.arrayBuffer())
        .then(
          (bytes) => {
            this.#pendingBlobBytes -= size;
            this.#ws.send(new Uint8Array(bytes), true);
          },
          (err: unknown) => {
            // A message that cannot be read cannot be sent, and the ones after it must not go
            // without it: the connection fails (1011), as a browser's does.
            this.#pendingBlobBytes -= size;
            this.#blobFailed(err);
          },
        )
        .catch(reportUncaught)
        .finally(() => {
          if (this.#blobChain === chain) this.#blobChain = undefined;
        });
      this.#blobChain = chain;
      return;
    }
    const payload: string | ArrayBufferView =
      typeof data === "string" ? data : ArrayBuffer.isView(data) ? data : new Uint8Array(data as ArrayBuffer);
    if (this.#state !== WebSocket.OPEN) {
      this.#afterClose += typeof payload === "string" ? Buffer.byteLength(payload) : payload.byteLength;
      return;
    }
    if (this.#blobChain) {
      // Keep the order: this message leaves after the Blob before it (a copy: the caller may
      // reuse its buffer at once).
      const owned = typeof payload === "string" ? payload : Buffer.from(new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength));
      const size = typeof owned === "string" ? Buffer.byteLength(owned) : owned.byteLength;
      this.#pendingBlobBytes += size;
      const chain: Promise<void> = this.#blobChain
        .then(() => {
          this.#pendingBlobBytes -= size;
          this.#ws.send(owned, typeof owned !== "string");
        })
        .finally(() => {
          if (this.#blobChain === chain) this.#blobChain = undefined;
        });
      this.#blobChain = chain;
      return;
    }
    this.#ws.send(payload, typeof payload !== "string");
  }

  /**
   * Starts the closing handshake (or gives up connecting). `code` must be 1000 or 3000-4999
   * (`InvalidAccessError` otherwise), `reason` at most 123 bytes of UTF-8 (`SyntaxError`).
   * Without a code, the close frame carries no status (the peer sees 1005), unless a reason is
   * given (then 1000), as the standard says.
   */
  close(code?: number, reason?: string): void {
    if (code !== undefined && (code !== 1000 && (!Number.isInteger(code) || code < 3000 || code > 4999))) {
      throw new DOMException(`close code must be 1000 or 3000-4999, not ${code}`, "InvalidAccessError");
    }
    const text = reason ?? "";
    if (Buffer.byteLength(text) > MAX_CLOSE_REASON_BYTES) {
      throw new DOMException(`close reason must be at most ${MAX_CLOSE_REASON_BYTES} bytes`, "SyntaxError");
    }
    if (this.#state >= WebSocket.CLOSING) return;
    this.#state = WebSocket.CLOSING;
    this.#closeCode = code ?? (reason !== undefined ? 1000 : NO_STATUS);
    this.#closeReason = text;
    const send = (): void => this.#ws._close(this.#closeCode, text);
    if (this.#blobChain) void this.#blobChain.then(send);
    else send();
  }

  #blobFailed(err: unknown): void {
    if (this.#state !== WebSocket.OPEN) return;
    this.#state = WebSocket.CLOSING;
    const message = `a Blob could not be read: ${err instanceof Error ? err.message : String(err)}`;
    this.dispatchEvent(new ErrorEvent("error", { error: err, message }));
    this.#ws.close(1011, "Blob read failed");
  }

  #opened(ws: ClientWebSocket): void {
    ws.on("message", (data, isBinary) => {
      let value: unknown;
      if (!isBinary) value = data.toString("utf8");
      else if (this.#binaryType === "arraybuffer") value = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
      else if (this.#binaryType === "blob") value = new Blob([data]);
      else value = data;
      this.dispatchEvent(new MessageEvent("message", { data: value, origin: this.#origin }));
    });
    ws.on("close", (code, reason) => this.#closed(code, reason));
    if (this.#state === WebSocket.CLOSING) {
      // close() was called while the open was on its way: nothing was sent yet.
      ws._close(this.#closeCode, this.#closeReason);
      return;
    }
    this.#state = WebSocket.OPEN;
    this.dispatchEvent(new Event("open"));
  }

  #failed(err: ConnectError): void {
    this.#state = WebSocket.CLOSED;
    this.dispatchEvent(new ErrorEvent("error", { error: err, message: err.message }));
    this.dispatchEvent(new CloseEvent("close", { code: 1006, reason: "", wasClean: false }));
  }

  #closed(code: number, reason: string): void {
    this.#state = WebSocket.CLOSED;
    const wasClean = code !== 1006;
    if (!wasClean) this.dispatchEvent(new ErrorEvent("error", { message: "the connection was closed abnormally" }));
    this.dispatchEvent(new CloseEvent("close", { code, reason, wasClean }));
  }

  /** Lets the process exit while this connection is open (not in the standard; see ClientWebSocket.unref). */
  unref(): this {
    this.#ws.unref();
    return this;
  }

  /** Undoes `unref()`: an open connection keeps the process alive (the default). */
  ref(): this {
    this.#ws.ref();
    return this;
  }
}

// onopen, onmessage, onerror, onclose: one handler each, living alongside addEventListener ones.
for (const type of EVENTS) {
  Object.defineProperty(WebSocket.prototype, `on${type}`, {
    configurable: true,
    enumerable: true,
    get(this: WebSocket): Handler {
      return handlers(this).get(type)?.handler ?? null;
    },
    set(this: WebSocket, handler: Handler) {
      const map = handlers(this);
      const previous = map.get(type);
      if (previous) this.removeEventListener(type, previous.listener);
      map.delete(type);
      if (typeof handler !== "function") return;
      const listener = (event: Event): void => {
        handler.call(this, event);
      };
      map.set(type, { handler, listener });
      this.addEventListener(type, listener);
    },
  });
}

const handlerMaps = new WeakMap<WebSocket, Map<string, { handler: Handler; listener: (e: Event) => void }>>();
function handlers(ws: WebSocket): Map<string, { handler: Handler; listener: (e: Event) => void }> {
  let map = handlerMaps.get(ws);
  if (!map) handlerMaps.set(ws, (map = new Map()));
  return map;
}

export interface WebSocket {
  /** Handler of the `open` event (besides any added with addEventListener). */
  onopen: ((this: WebSocket, event: Event) => unknown) | null;
  /** Handler of `message` events: `event.data` is a string, or binary data as `binaryType` says. */
  onmessage: ((this: WebSocket, event: MessageEvent) => unknown) | null;
  /** Handler of the `error` event (an {@link ErrorEvent}; a `close` event follows). */
  onerror: ((this: WebSocket, event: Event) => unknown) | null;
  /** Handler of the `close` event. */
  onclose: ((this: WebSocket, event: CloseEvent) => unknown) | null;
}
