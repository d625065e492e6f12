// Shared helpers for the lwsnode test suite: bounded waits, `ws` clients with buffered
// events, a raw TCP WebSocket client for protocol tests, and per-test cleanup.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { connect, createServer as createNetServer, type Socket } from "node:net";
import { once } from "node:events";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { afterEach, expect } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { createServer, type Server, type ServerOptions, type ServerWebSocket } from "../lib/index.js";

export const DEFAULT_WAIT_MS = 5000;

// ---------------------------------------------------------------------------------------------
// External tools: a missing one affects only the tests that need it

/** The Debian packages some tests use, and how to tell each is installed. */
const TOOLS = {
  chromium: () => existsSync("/usr/bin/chromium"),
  // Debian's python3, not whichever python3 comes first on PATH.
  "python3-websockets": () => spawnSync("/usr/bin/python3", ["-c", "import websockets"], { stdio: "ignore" }).status === 0,
  "redis-server": () => spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status === 0,
} as const;
export type Tool = keyof typeof TOOLS;

const noticed = new Set<string>();

/**
 * Whether the Debian package `tool` is installed, for `it.runIf(needs(…))` /
 * `describe.runIf(…)`. Missing locally: false, after a one-line notice naming the package.
 * Missing under CI (`CI=true`): throws, failing the file, since CI must run everything.
 */
export function needs(tool: Tool, what: string): boolean {
  // LWSNODE_TEST_MISSING=chromium,… pretends those are missing (to see what a fresh machine sees).
  const pretend = (process.env.LWSNODE_TEST_MISSING ?? "").split(",").includes(tool);
  if (!pretend && TOOLS[tool]()) return true;
  const install = `apt-get install ${tool} (or bash scripts/setup-debian.sh)`;
  if (process.env.CI === "true") throw new Error(`${tool} is missing, needed by ${what}: ${install}`);
  if (!noticed.has(what)) {
    noticed.add(what);
    process.stderr.write(`skipped: ${what} (needs ${tool}: ${install})\n`);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Bounded waits

/** Resolves/rejects like `promise`, or rejects after `ms` with a message naming `what`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `predicate` every 10 ms until it returns true; rejects after `ms`. */
export async function waitFor(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** A promise with its resolve/reject exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

// ---------------------------------------------------------------------------------------------
// Expected errors

/** The error `fn` throws; fails the test if it does not throw. */
export function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error("expected it to throw");
}

/** The error createServer(options) rejects with; fails (and cleans up) if it resolves. */
export async function createServerRejection(defer: Cleanup, options: ServerOptions): Promise<Error & { code?: string }> {
  try {
    const server = await createServer({ port: 0, host: "127.0.0.1", ...options });
    defer(() => server.close());
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error(`createServer(${JSON.stringify(options)}) resolved`);
}

// ---------------------------------------------------------------------------------------------
// Cleanup: every test registers what it opened; afterEach closes all of it, newest first.

export type Cleanup = (fn: () => unknown) => void;

/** Call at the top level of a test file. Returns `defer(fn)`; registered fns run after each test. */
export function useCleanup(): Cleanup {
  const fns: (() => unknown)[] = [];
  afterEach(async () => {
    const errors: unknown[] = [];
    for (const fn of fns.splice(0).reverse()) {
      try {
        await withTimeout(Promise.resolve().then(fn), 10_000, "cleanup");
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  });
  return (fn) => {
    fns.push(fn);
  };
}

/** Starts a server and registers its close with `defer`. Defaults to an ephemeral port on 127.0.0.1. */
export async function startServer<T = unknown>(defer: Cleanup, options: ServerOptions<T> = {}): Promise<Server<T>> {
  const server = await withTimeout(
    createServer<T>({ port: 0, host: "127.0.0.1", ...options }),
    DEFAULT_WAIT_MS,
    "createServer()",
  );
  defer(() => server.close());
  return server;
}

/** Starts a server whose message handler echoes every message with the same type. */
export function startEchoServer<T = unknown>(defer: Cleanup, options: ServerOptions<T> = {}): Promise<Server<T>> {
  return startServer<T>(defer, {
    message(ws, data, isBinary) {
      ws.send(data, isBinary);
    },
    ...options,
  });
}


/** A `ws` server on a free loopback port (a reference peer for our client), terminated and closed after the test. */
export async function startWsServer(defer: Cleanup, options: ConstructorParameters<typeof WebSocketServer>[0] = {}): Promise<{ wss: WebSocketServer; port: number }> {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", ...options });
  await once(wss, "listening");
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  return { wss, port: (wss.address() as { port: number }).port };
}
/**
 * A TCP server on 127.0.0.1 that accepts connections and never answers (a handshake that
 * hangs). Returns its port and the sockets it accepted; `defer` destroys them and closes it.
 */
export async function startSilentTcpServer(defer: Cleanup): Promise<{ port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const net = createNetServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => net.listen(0, "127.0.0.1", resolve));
  defer(() => {
    for (const s of sockets) s.destroy();
    net.close();
  });
  return { port: (net.address() as { port: number }).port, sockets };
}

export interface Recording<T = unknown> {
  server: Server<T>;
  /** The sockets the open handler saw, in order. */
  sockets: ServerWebSocket<T>[];
  /** The messages the default (echoing) message handler saw, in order. */
  messages: Received[];
  /** The closes the close handler saw, in order. */
  closes: { ws: ServerWebSocket<T>; code: number; reason: string }[];
}

/**
 * Starts an echo server whose handlers record every open, message and close. A handler given
 * in `options` replaces the recording one (and its echo).
 */
export async function startRecordingServer<T = unknown>(defer: Cleanup, options: ServerOptions<T> = {}): Promise<Recording<T>> {
  const sockets: Recording<T>["sockets"] = [];
  const messages: Recording<T>["messages"] = [];
  const closes: Recording<T>["closes"] = [];
  const server = await startServer<T>(defer, {
    open: (ws) => void sockets.push(ws),
    message(ws, data, isBinary) {
      messages.push({ data: Buffer.from(data), isBinary });
      ws.send(data, isBinary);
    },
    close: (ws, code, reason) => void closes.push({ ws, code, reason }),
    ...options,
  });
  return { server, sockets, messages, closes };
}

export function urlOf(server: { port: number }, path = "/"): string {
  return `ws://127.0.0.1:${server.port}${path}`;
}

// ---------------------------------------------------------------------------------------------
// `ws` clients. Each client opened here records messages and its close from the start, so
// nothing that arrives before a test starts waiting is lost.

export interface Received {
  data: Buffer;
  isBinary: boolean;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

interface Tracker {
  messages: Received[];
  messageWaiters: { resolve(m: Received): void; reject(e: Error): void }[];
  closed?: CloseInfo;
  closeWaiters: ((c: CloseInfo) => void)[];
  errors: Error[];
}

const trackers = new WeakMap<WebSocket, Tracker>();

function track(client: WebSocket): Tracker {
  let t = trackers.get(client);
  if (t) return t;
  const tracker: Tracker = { messages: [], messageWaiters: [], closeWaiters: [], errors: [] };
  trackers.set(client, tracker);
  client.on("message", (data: WebSocket.RawData, isBinary: boolean) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const m = { data: buf, isBinary };
    const waiter = tracker.messageWaiters.shift();
    if (waiter) waiter.resolve(m);
    else tracker.messages.push(m);
  });
  client.on("error", (err) => {
    tracker.errors.push(err);
  });
  client.on("close", (code: number, reason: Buffer) => {
    tracker.closed = { code, reason: reason.toString() };
    for (const w of tracker.closeWaiters.splice(0)) w(tracker.closed);
    for (const w of tracker.messageWaiters.splice(0)) {
      w.reject(new Error(`connection closed (${code} ${reason.toString()}) while waiting for a message`));
    }
  });
  t = tracker;
  return t;
}

/**
 * Opens a `ws` client and resolves once it is open. Rejects on error, on a non-101 answer
 * (the error carries `statusCode`), or after `timeoutMs`.
 */
export function openClient(url: string, options: WebSocket.ClientOptions = {}, timeoutMs = DEFAULT_WAIT_MS): Promise<WebSocket> {
  const client = new WebSocket(url, { handshakeTimeout: timeoutMs, ...options });
  track(client);
  const opened = new Promise<WebSocket>((resolve, reject) => {
    client.once("open", () => resolve(client));
    client.once("unexpected-response", (_req, res) => {
      const err = new Error(`unexpected server response: ${res.statusCode}`) as Error & { statusCode?: number };
      err.statusCode = res.statusCode;
      res.resume();
      client.terminate();
      reject(err);
    });
    client.once("error", (err) => reject(err));
    client.once("close", (code) => reject(new Error(`closed (${code}) before open`)));
  });
  return withTimeout(opened, timeoutMs + 500, `client open ${url}`).catch((err) => {
    client.terminate();
    throw err;
  });
}

/** Opens a client and registers its termination with `defer`. */
export async function openTracked(defer: Cleanup, url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  const client = await openClient(url, options);
  defer(() => client.terminate());
  return client;
}

/** The next message the client received (buffered from the moment it was opened). */
export function nextMessage(client: WebSocket, timeoutMs = DEFAULT_WAIT_MS): Promise<Received> {
  const t = track(client);
  const queued = t.messages.shift();
  if (queued) return Promise.resolve(queued);
  if (t.closed) return Promise.reject(new Error(`connection already closed (${t.closed.code}) while waiting for a message`));
  return withTimeout(
    new Promise<Received>((resolve, reject) => t.messageWaiters.push({ resolve, reject })),
    timeoutMs,
    "a message",
  );
}

/** Resolves with the close code and reason the client saw. */
export function closed(client: WebSocket, timeoutMs = DEFAULT_WAIT_MS): Promise<CloseInfo> {
  const t = track(client);
  if (t.closed) return Promise.resolve(t.closed);
  return withTimeout(new Promise<CloseInfo>((resolve) => t.closeWaiters.push(resolve)), timeoutMs, "the client to close");
}

/** Errors the client emitted so far. */
export function clientErrors(client: WebSocket): Error[] {
  return track(client).errors;
}

/** Sends and resolves once `ws` has handed the data to the socket. */
export function sendAsync(client: WebSocket, data: string | Buffer, options: { binary?: boolean } = {}): Promise<void> {
  return new Promise((resolve, reject) => client.send(data, options, (err) => (err ? reject(err) : resolve())));
}

/** The server still echoes for a new `ws` client (after a misbehaving one, say). */
export async function expectStillServing(defer: Cleanup, server: { port: number }): Promise<void> {
  const client = await openTracked(defer, urlOf(server));
  client.send("still serving");
  expect((await nextMessage(client)).data.toString()).toBe("still serving");
}

/** Attempts an upgrade that should fail; resolves with the HTTP status the server answered. */
export async function upgradeStatus(url: string, timeoutMs = DEFAULT_WAIT_MS): Promise<number> {
  try {
    const client = await openClient(url, {}, timeoutMs);
    client.terminate();
  } catch (err) {
    const status = (err as { statusCode?: number }).statusCode;
    if (status !== undefined) return status;
    throw err;
  }
  throw new Error(`upgrade to ${url} unexpectedly succeeded`);
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

// ---------------------------------------------------------------------------------------------
// Raw frames (RFC 6455 §5.2)

export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

export interface FrameOptions {
  fin?: boolean;
  opcode: number;
  payload?: Uint8Array | string;
  /** Client frames must be masked (default true). */
  mask?: boolean;
  /** RSV1..RSV3 as a 3-bit number (RSV1 = 4). */
  rsv?: number;
}

/** Builds one frame. */
export function frame({ fin = true, opcode, payload = Buffer.alloc(0), mask = true, rsv = 0 }: FrameOptions): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : Buffer.from(payload);
  const len = body.length;
  let header: Buffer;
  if (len < 126) {
    header = Buffer.alloc(2);
    header[1] = len;
  } else if (len < 65536) {
    header = Buffer.alloc(4);
    header[1] = 126;
    header.writeUInt16BE(len, 2);
  } else {
    header = Buffer.alloc(10);
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  header[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
  if (!mask) return Buffer.concat([header, body]);
  header[1] |= 0x80;
  const key = randomBytes(4);
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = body[i]! ^ key[i & 3]!;
  return Buffer.concat([header, key, masked]);
}

/** A close frame's payload: 2-byte code and UTF-8 reason. */
export function closePayload(code: number, reason = ""): Buffer {
  const buf = Buffer.alloc(2 + Buffer.byteLength(reason));
  buf.writeUInt16BE(code, 0);
  buf.write(reason, 2, "utf8");
  return buf;
}

export interface ParsedFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  payload: Buffer;
}

/** Parses one frame from the start of `buf`; returns it and its length, or undefined if incomplete. */
export function parseFrame(buf: Buffer): { frame: ParsedFrame; length: number } | undefined {
  if (buf.length < 2) return undefined;
  const fin = (buf[0]! & 0x80) !== 0;
  const rsv = (buf[0]! >> 4) & 7;
  const opcode = buf[0]! & 0x0f;
  const masked = (buf[1]! & 0x80) !== 0;
  let len = buf[1]! & 0x7f;
  let offset = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    offset = 4;
  } else if (len === 127) {
    if (buf.length < 10) return undefined;
    len = Number(buf.readBigUInt64BE(2));
    offset = 10;
  }
  let key: Buffer | undefined;
  if (masked) {
    if (buf.length < offset + 4) return undefined;
    key = buf.subarray(offset, offset + 4);
    offset += 4;
  }
  if (buf.length < offset + len) return undefined;
  const payload = Buffer.from(buf.subarray(offset, offset + len));
  if (key) for (let i = 0; i < len; i++) payload[i] = payload[i]! ^ key[i & 3]!;
  return { frame: { fin, rsv, opcode, payload }, length: offset + len };
}

// ---------------------------------------------------------------------------------------------
// Raw TCP WebSocket client

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export class RawClient {
  readonly socket: Socket;
  /** The 101 response's headers, names in lower case. */
  responseHeaders = new Map<string, string>();
  #buf: Buffer;
  #frames: ParsedFrame[] = [];
  #ended = false;
  #wake: (() => void)[] = [];

  constructor(socket: Socket, leftover: Buffer) {
    this.socket = socket;
    this.#buf = leftover;
    this.#parse();
    socket.on("data", (chunk: Buffer) => {
      this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
      this.#parse();
      this.#notify();
    });
    const end = (): void => {
      this.#ended = true;
      this.#notify();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
  }

  get ended(): boolean {
    return this.#ended;
  }

  #parse(): void {
    for (;;) {
      const parsed = parseFrame(this.#buf);
      if (!parsed) return;
      this.#frames.push(parsed.frame);
      this.#buf = this.#buf.subarray(parsed.length);
    }
  }

  #notify(): void {
    for (const w of this.#wake.splice(0)) w();
  }

  /** Writes raw bytes (errors after the server hung up are ignored). */
  write(bytes: Uint8Array): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.socket.write(bytes, () => {});
  }

  /** Builds a frame (masked unless told otherwise) and writes it. */
  send(options: FrameOptions): void {
    this.write(frame(options));
  }

  /** The next frame the server sent. */
  async readFrame(timeoutMs = DEFAULT_WAIT_MS): Promise<ParsedFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.#frames.shift();
      if (f) return f;
      if (this.#ended) throw new Error("connection ended while waiting for a frame");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for a frame`);
      await withTimeout(new Promise<void>((resolve) => this.#wake.push(resolve)), left, "a frame").catch(() => {});
    }
  }

  /** Reads frames until a data frame (text/binary/continuation), collecting control frames on the way. */
  async readDataFrame(timeoutMs = DEFAULT_WAIT_MS, control: ParsedFrame[] = []): Promise<ParsedFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = await this.readFrame(Math.max(1, deadline - Date.now()));
      if (f.opcode >= 0x8) {
        if (f.opcode === OP.CLOSE) throw new Error(`server closed (${describeClose(f.payload)}) instead of sending data`);
        control.push(f);
        continue;
      }
      return f;
    }
  }

  /**
   * Reads one whole message: its first frame's opcode and the payload of all its fragments
   * (the server sends large messages as several fragments).
   */
  async readMessage(timeoutMs = DEFAULT_WAIT_MS): Promise<{ opcode: number; payload: Buffer; fragments: number }> {
    const deadline = Date.now() + timeoutMs;
    const first = await this.readDataFrame(timeoutMs);
    const parts = [first.payload];
    let last = first;
    while (!last.fin) {
      last = await this.readDataFrame(Math.max(1, deadline - Date.now()));
      if (last.opcode !== OP.CONT) throw new Error(`expected a continuation frame, got opcode ${last.opcode}`);
      parts.push(last.payload);
    }
    return { opcode: first.opcode, payload: Buffer.concat(parts), fragments: parts.length };
  }

  /**
   * Reads frames until the server's close frame; returns its code (1005 when empty) and reason.
   * Answers it with a close frame as a polite client would. Throws if the connection ends first.
   */
  async readClose(timeoutMs = DEFAULT_WAIT_MS): Promise<CloseInfo> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = await this.readFrame(Math.max(1, deadline - Date.now()));
      if (f.opcode !== OP.CLOSE) continue;
      const info =
        f.payload.length >= 2
          ? { code: f.payload.readUInt16BE(0), reason: f.payload.subarray(2).toString("utf8") }
          : { code: 1005, reason: "" };
      this.send({ opcode: OP.CLOSE, payload: f.payload.subarray(0, 2) });
      return info;
    }
  }

  /** Resolves once the server has closed the TCP connection. */
  async waitEnd(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    await waitFor(() => this.#ended, timeoutMs, "the server to close the TCP connection");
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function describeClose(payload: Buffer): string {
  return payload.length >= 2 ? `${payload.readUInt16BE(0)} ${payload.subarray(2).toString()}` : "no code";
}

/** The Sec-WebSocket-Accept value that answers a Sec-WebSocket-Key (RFC 6455 §4.2.2). */
export function acceptFor(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

/** A fresh random Sec-WebSocket-Key. */
export const newKey = (): string => randomBytes(16).toString("base64");

/**
 * A client's upgrade request head: GET `path` with Host 127.0.0.1:`port`, the given key (a
 * fresh one by default) and `headers` added last.
 */
export function upgradeRequest(
  port: number,
  { path = "/", key = newKey(), headers = {} }: { path?: string; key?: string; headers?: Record<string, string> } = {},
): string {
  return (
    `GET ${path} HTTP/1.1\r\n` +
    `Host: 127.0.0.1:${port}\r\n` +
    "Upgrade: websocket\r\n" +
    "Connection: Upgrade\r\n" +
    `Sec-WebSocket-Key: ${key}\r\n` +
    "Sec-WebSocket-Version: 13\r\n" +
    Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("") +
    "\r\n"
  );
}

export interface HttpHead {
  /** The request line or the status line. */
  firstLine: string;
  /** Header fields, names in lower case; a repeated field's values joined with ", " (RFC 9110 §5.3). */
  headers: Map<string, string>;
  /** What arrived after the blank line in the same reads (the first frames). */
  rest: Buffer;
}

/**
 * Reads an HTTP request or response head off `socket`, up to its blank line. The socket is then
 * left paused, so that nothing after the head is lost: attach your own "data" listener and
 * `resume()` it. Rejects if the socket errs or closes first.
 */
export function readHttpHead(socket: Socket): Promise<HttpHead> {
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    const stop = (): void => {
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("close", onClose);
    };
    const onError = (err: Error): void => {
      stop();
      reject(err);
    };
    const onClose = (): void => {
      stop();
      reject(new Error(`connection closed after ${head.length} bytes, before a whole HTTP head`));
    };
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      stop();
      socket.pause();
      const [firstLine = "", ...lines] = head.subarray(0, end).toString("latin1").split("\r\n");
      const headers = new Map<string, string>();
      for (const line of lines) {
        const colon = line.indexOf(":");
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        const before = headers.get(name);
        headers.set(name, before === undefined ? value : `${before}, ${value}`);
      }
      resolve({ firstLine, headers, rest: head.subarray(end + 4) });
    };
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("close", onClose);
  });
}

/**
 * Connects over TCP and performs the HTTP upgrade by hand: random Sec-WebSocket-Key, checks
 * the 101 status, the Upgrade header and the Sec-WebSocket-Accept value.
 */
export async function rawConnect(
  port: number,
  path = "/",
  timeoutMs = DEFAULT_WAIT_MS,
  extraHeaders: Record<string, string> = {},
): Promise<RawClient> {
  const key = newKey();
  const socket = connect({ host: "127.0.0.1", port });
  socket.setNoDelay(true);
  const handshake = async (): Promise<RawClient> => {
    const answered = readHttpHead(socket);
    socket.once("connect", () => socket.write(upgradeRequest(port, { path, key, headers: extraHeaders })));
    const { firstLine, headers, rest } = await answered;
    if (!/^HTTP\/1\.1 101\b/.test(firstLine)) throw new Error(`expected 101, got: ${firstLine}`);
    if ((headers.get("upgrade") ?? "").toLowerCase() !== "websocket") {
      throw new Error(`bad Upgrade header: ${headers.get("upgrade")}`);
    }
    if (headers.get("sec-websocket-accept") !== acceptFor(key)) {
      throw new Error(`bad Sec-WebSocket-Accept: ${headers.get("sec-websocket-accept")} (expected ${acceptFor(key)})`);
    }
    const raw = new RawClient(socket, rest);
    raw.responseHeaders = headers;
    socket.resume();
    return raw;
  };
  return withTimeout(handshake(), timeoutMs, "the raw upgrade").catch((err) => {
    socket.destroy();
    throw err;
  });
}

/** rawConnect + registers destroy with `defer`. */
export async function rawTracked(defer: Cleanup, port: number, path = "/", extraHeaders: Record<string, string> = {}): Promise<RawClient> {
  const raw = await rawConnect(port, path, DEFAULT_WAIT_MS, extraHeaders);
  defer(() => raw.destroy());
  return raw;
}

// ---------------------------------------------------------------------------------------------
// Child processes running fixtures (test/fixtures/*.mjs) against the built package in dist/

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const DIST = fileURLToPath(new URL("../dist/index.js", import.meta.url));
export const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));

export interface Line {
  tag: string;
  value: unknown;
  at: number;
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  lines: Line[];
  startedAt: number;
  exitedAt: number;
}

export interface RunChildOptions {
  /**
   * Kill the child (SIGKILL, timedOut true) this long after it prints the line tagged `tag`:
   * "still alive N ms after it got that far", measured from the child's own progress rather
   * than from the spawn, which a loaded machine delays by seconds.
   */
  killAfterLine?: { tag: string; ms: number };
}

/**
 * Runs `node fixtures/<script> ...args`. Resolves when it exits, or kills it (SIGKILL) after
 * `killAfterMs` and resolves with timedOut true. Stdout lines are timestamped as they arrive.
 */
export function runChild(script: string, args: string[], killAfterMs: number, options: RunChildOptions = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const child = spawn(process.execPath, [FIXTURES + script, ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    const lines: Line[] = [];
    let stdout = "";
    let stderr = "";
    let pending = "";
    let timedOut = false;
    let lineTimer: NodeJS.Timeout | undefined;
    const killNow = (): void => {
      timedOut = true;
      child.kill("SIGKILL");
    };
    child.stdout.on("data", (chunk: Buffer) => {
      const at = performance.now();
      stdout += chunk.toString();
      pending += chunk.toString();
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const space = line.indexOf(" ");
        const tag = space < 0 ? line : line.slice(0, space);
        let value: unknown;
        if (space >= 0) {
          try {
            value = JSON.parse(line.slice(space + 1));
          } catch {
            value = line.slice(space + 1);
          }
        }
        lines.push({ tag, value, at });
        if (tag === options.killAfterLine?.tag && !lineTimer) lineTimer = setTimeout(killNow, options.killAfterLine.ms);
      }
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(killNow, killAfterMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      clearTimeout(lineTimer);
      reject(err);
    });
    child.on("exit", (code, signal) => {
      const exitedAt = performance.now();
      clearTimeout(timer);
      clearTimeout(lineTimer);
      // Let the pipes drain before resolving.
      setImmediate(() => resolve({ code, signal, timedOut, stdout, stderr, lines, startedAt, exitedAt }));
    });
  });
}

export function line(result: ChildResult, tag: string): Line {
  const found = result.lines.find((l) => l.tag === tag);
  if (!found) {
    throw new Error(
      `child never printed ${tag} (exit ${result.code}/${result.signal}, timedOut ${result.timedOut})\n` +
        `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
    );
  }
  return found;
}

export function describeChild(r: ChildResult): string {
  return `exit code ${r.code}, signal ${r.signal}, timedOut ${r.timedOut}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

/** The child exited by itself (not killed by runChild's timer, nor by a signal) with `code`. */
export function expectExitedBySelf(r: ChildResult, code = 0): void {
  expect(r.timedOut, describeChild(r)).toBe(false);
  expect(r.signal, describeChild(r)).toBeNull();
  expect(r.code, describeChild(r)).toBe(code);
}

/** How long the child lived on after it printed `tag` (ms). */
export function msFromLineToExit(r: ChildResult, tag: string): number {
  return r.exitedAt - line(r, tag).at;
}


/** Throws a clear error when the built package (or `ws`) that child fixtures import is missing. */
export function requireDist(): void {
  if (!existsSync(DIST)) {
    throw new Error(
      `${DIST} does not exist: tests that run child processes use the built package. Build it first with ` +
        "`npm run build:ts` (or `npx tsc -p tsconfig.json`) in the repository root.",
    );
  }
  if (!existsSync(new URL("../node_modules/ws/package.json", import.meta.url))) {
    throw new Error("node_modules/ws is missing: run `npm install` first.");
  }
}
