// createServer() options: their types, defaults and validation.
import type { Server as HttpServer } from "node:http";
import type { HttpHandler } from "./http-handler.js";
import type { ServerWebSocket } from "./server-websocket.js";
import {
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_DEFLATE_LEVEL,
  DEFAULT_DEFLATE_THRESHOLD,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_BACKPRESSURE,
  DEFAULT_MAX_HEADER_SIZE,
  DEFAULT_MAX_PAYLOAD_LENGTH,
  DEFAULT_MAX_PENDING_UPGRADES,
  DEFAULT_UPGRADE_TIMEOUT,
} from "./defaults.js";
import { invalidType, outOfRange } from "./errors.js";
import type { NativeListenOptions } from "./native.js";
import { boolean, HTTP_TOKEN, integer, rejectUnknownOptions } from "./option-checks.js";
import type { TlsOptions } from "./tls-options.js";
import { resolvePubSub, type PubSubOptions, type ResolvedPubSub } from "./pubsub/options.js";
import { resolvePath, type PathOption, type UpgradeHandler } from "./upgrade.js";

/**
 * Handlers shared by every socket of a server (one set per server, as in uWebSockets.js and
 * Bun: no per-socket listeners). They run on the JS thread, in the order events happened on
 * each connection. A handler that throws surfaces as an uncaught exception; delivery to the
 * other sockets goes on.
 *
 * @typeParam T - the type of each socket's `data`
 */
export interface ServerHandlers<T> {
  /** A client completed the handshake. Set `ws.data` here. */
  open?(ws: ServerWebSocket<T>): void;
  /**
   * A whole message arrived (fragments are reassembled natively). `data` is yours to keep;
   * for text, `data.toString()` gives the string (it is valid UTF-8: invalid text closes the
   * connection with 1007 before reaching you).
   */
  message?(ws: ServerWebSocket<T>, data: Buffer, isBinary: boolean): void;
  /**
   * The connection ended: fires exactly once per opened socket, with the close code the peer
   * sent (1005 if its close frame had none), the code we sent when we closed first, or 1006
   * when the connection dropped without a closing handshake.
   */
  close?(ws: ServerWebSocket<T>, code: number, reason: string): void;
  /** A socket that reported backpressure (or dropped a message) has written everything. */
  drain?(ws: ServerWebSocket<T>): void;
  /**
   * The peer sent a pong: usually the answer to one of your pings (`ws.ping(data)`) or to an
   * automatic one (`sendPings`, payload `"ping"`); unsolicited pongs are reported too.
   */
  pong?(ws: ServerWebSocket<T>, data: Buffer): void;
  /** The peer sent a ping. The pong that answers it is already on its way (sent natively). */
  ping?(ws: ServerWebSocket<T>, data: Buffer): void;
  /**
   * Decides each upgrade request before the handshake completes (sync or async): check the
   * `origin` header, authenticate, pick a subprotocol, set `ws.data`. The handshake waits on
   * the I/O thread meanwhile, at most `upgradeTimeout` ms (then 503). Return nothing to
   * accept, `false` for 403, `{ status, body?, headers? }` to refuse with that response, or
   * `{ protocol?, headers?, data? }` to accept with those. A throw or rejection answers 500
   * (reported as a process warning). Without it, handshakes complete natively, with no call
   * into JS.
   *
   * ```ts
   * upgrade(req) {
   *   if (req.headers.origin !== "https://example.com") return { status: 403, body: "bad origin" };
   *   return { protocol: req.protocols.includes("chat.v2") ? "chat.v2" : "", data: { user: "ann" } };
   * }
   * ```
   */
  upgrade?: UpgradeHandler<T>;
  /**
   * Answers plain HTTP requests on a standalone server's port (not with `server` or
   * `noServer`: there the HTTP server answers them), sync or async: return
   * `{ status?, headers?, body? }`, or nothing for the default (426 on a WebSocket path, 404
   * elsewhere). The connection closes after the answer. Without it, the defaults are answered
   * natively.
   *
   * ```ts
   * http(req) { if (req.path === "/health") return { body: "ok\n" }; }
   * ```
   */
  http?: HttpHandler;
}

/** Options of {@link createServer}. Every field is optional. */
export interface ServerOptions<T = unknown> extends ServerHandlers<T> {
  /** TCP port; 0 (default) picks a free one, see `server.port`. */
  port?: number;
  /** Address or host name to listen on; default: every interface (IPv4 and IPv6). */
  host?: string;
  /**
   * Share the HTTP server's port: upgrade requests on `server` (a `node:http` or `node:https`
   * server, or anything built on one: Express, Fastify, Koa) whose path matches `path` are
   * handed to the I/O thread; everything else stays with the app. Not with `port`, `host`,
   * `unix`, `tls`, `reusePort` or `noServer`. `server.close()` then closes the WebSockets
   * (1001), not the HTTP server.
   */
  server?: HttpServer;
  /**
   * Listen nowhere: hand upgrades over yourself with `server.handleUpgrade(req, socket, head)`
   * (from an `'upgrade'` listener). Not with `server`, `port`, `host`, `unix`, `tls` or `reusePort`.
   */
  noServer?: boolean;
  /**
   * Listen on this Unix domain socket path instead of a TCP port (behind nginx or a sidecar).
   * A path where something accepts connections is refused (`EADDRINUSE`); a stale one is
   * replaced; the path is removed when the server closes.
   */
  unix?: string;
  /**
   * `SO_REUSEPORT`: several processes (`node:cluster` workers or plain processes of the same
   * user) each listen on this port and the kernel spreads the connections. Each process has
   * its own sockets and topics.
   */
  reusePort?: boolean;
  /**
   * Which paths accept upgrades (the query string is ignored); others get 404. A string or a
   * list is matched natively; a function (called with the path, returning true to go on to
   * `upgrade`) costs a trip to JS per handshake, like an `upgrade` handler. Default: any path.
   */
  path?: PathOption;
  /** Largest message accepted, in bytes, after reassembly; a bigger one closes the connection with 1009. Default 16 MiB. */
  maxPayloadLength?: number;
  /**
   * Bytes a socket may buffer. Beyond it, `send()` returns `DROPPED` and publishes skip the
   * socket (counted in `stats().dropped`), unless `closeOnBackpressureLimit`. Default 16 MiB.
   */
  maxBackpressure?: number;
  /** Close a socket that exceeds `maxBackpressure` with 1008 (discarding what it buffers) instead of dropping messages. Default false. */
  closeOnBackpressureLimit?: boolean;
  /** Most open connections; further upgrades are answered 503. 0 (default): no limit. */
  maxConnections?: number;
  /**
   * Most open connections from one client address; its further upgrades are answered 429
   * (checked on the I/O thread: the `upgrade` handler never sees them). 0 (default): no limit.
   * Clients behind one proxy or NAT share an address: size it for them.
   */
  maxConnectionsPerIp?: number;
  /**
   * Most upgrade requests one client address may make per second (a fixed one-second window);
   * more are answered 429 on the I/O thread, before the `upgrade` handler. 0 (default): no limit.
   */
  handshakeRateLimit?: number;
  /**
   * Milliseconds a socket may stay silent (no message, no pong) before it is closed; 0
   * disables. Default 120000 (2 minutes). Checked once a second, so a socket goes up to a
   * second later than this. Values from 1 to 999 are refused (`ERR_OUT_OF_RANGE`): they are
   * almost surely seconds, the unit this option used to have.
   */
  idleTimeout?: number;
  /** Ping (payload `"ping"`) a socket silent for half of `idleTimeout`, so live peers that only listen stay open. Default true. */
  sendPings?: boolean;
  /** How long `server.close()` waits for clients to finish the closing handshake before dropping them, in ms. Default 5000. */
  closeTimeout?: number;
  /**
   * Milliseconds a client has to deliver its whole upgrade request (headers) once connected;
   * slower clients, such as a slowloris trickling bytes, are dropped. Rounded up to whole
   * seconds (libwebsockets' granularity). Default 10000, as for `connect()`.
   */
  handshakeTimeout?: number;
  /**
   * permessage-deflate (RFC 7692) for clients that offer it: `true` for the defaults, or the
   * settings to change. Off by default: compression costs CPU (on the I/O thread) and zlib
   * memory (lws's inflater: by zlib's documented figures about 40 KiB per socket that sends
   * compressed messages).
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** Serve `wss://` with this certificate and key (TLS 1.2 and later). Default: plain `ws://`. */
  tls?: TlsOptions;
  /**
   * Bridge topics through Redis: `server.publish`, `ws.publish` and worker publishers reach
   * the topic's subscribers on every server bridged to the same Redis. Needs `ioredis`
   * (optional peer dependency). See the README's "Scaling out".
   */
  pubsub?: PubSubOptions;
  /** Milliseconds the `upgrade` handler (or a `path` function) has to decide; later, the client gets 503. Default 10000. */
  upgradeTimeout?: number;
  /** Handshakes waiting for the `upgrade` handler at once; more are answered 503 straight away. Default 64. */
  maxPendingUpgrades?: number;
  /** Largest upgrade request (request target plus header names and values, in bytes) answered; bigger ones get 431. Default 8192, at most 16384. */
  maxHeaderSize?: number;
  /**
   * Request headers every socket keeps from its handshake, in `ws.headers` (names in lower
   * case), e.g. `["x-forwarded-for", "user-agent"]`. Read natively when the handshake
   * completes, without a trip to JS; none by default (then nothing is read). At most 32 names.
   */
  captureHeaders?: string[];
}

/**
 * How outgoing messages are compressed. Each message is compressed on its own (no context
 * takeover on the server side), so a publish is compressed once and shared by every subscriber
 * that negotiated the extension; clients may keep their own context or not, as they offer.
 * A client offer that limits the server's window (`server_max_window_bits` below 15) is
 * declined: that connection runs uncompressed.
 */
export interface PerMessageDeflateOptions {
  /** Messages shorter than this many bytes go out uncompressed. Default 1024. */
  threshold?: number;
  /** zlib compression level, 1 (fastest) to 9 (smallest). Default 6, zlib's own default. */
  level?: number;
}

/**
 * The settings that pass to the I/O thread unchanged (as `native.listen()` takes them, documented
 * there).
 */
type NativeServerSettings = Pick<
  NativeListenOptions,
  | "port"
  | "host"
  | "paths"
  | "captureHeaders"
  | "upgradeTimeout"
  | "maxPendingUpgrades"
  | "maxHeaderSize"
  | "maxPayloadLength"
  | "maxBackpressure"
  | "closeOnBackpressureLimit"
  | "maxConnections"
  | "maxConnectionsPerIp"
  | "handshakeRateLimit"
  | "idleTimeout"
  | "sendPings"
>;

/** Options after validation, with defaults applied. */
export interface ResolvedServerOptions<T> extends NativeServerSettings {
  /** Attached to this HTTP server, or (`noServer`) to none: upgrades are handed over. */
  attach?: { server?: HttpServer };
  unix: string;
  reusePort: boolean;
  /** Decides the paths `paths` leaves open (a `path` function). */
  pathFilter?: (path: string) => boolean;
  closeTimeout: number;
  /** In ms (the I/O thread takes whole seconds). */
  handshakeTimeout: number;
  /** Resolved deflate settings; undefined when compression is off. */
  perMessageDeflate: Required<PerMessageDeflateOptions> | undefined;
  /** Raw `tls` option; checked and loaded by createServer (it may read files). */
  tls: unknown;
  pubsub?: ResolvedPubSub;
  handlers: ServerHandlers<T>;
}

const MAX_PAYLOAD_LIMIT = 2 ** 32 - 1; // native event records carry 32-bit lengths

const MAX_PENDING_UPGRADES_LIMIT = 128; // half the I/O thread's 256 header buffers (native/io_thread.cc)
const MAX_HEADER_SIZE_LIMIT = 16384; // the I/O thread's header buffer

const HANDLERS = ["open", "message", "close", "drain", "ping", "pong", "upgrade", "http"] as const;
const KNOWN = new Set<string>([
  ...HANDLERS,
  "port",
  "host",
  "server",
  "noServer",
  "unix",
  "reusePort",
  "path",
  "maxPayloadLength",
  "maxBackpressure",
  "closeOnBackpressureLimit",
  "maxConnections",
  "maxConnectionsPerIp",
  "handshakeRateLimit",
  "idleTimeout",
  "sendPings",
  "closeTimeout",
  "handshakeTimeout",
  "perMessageDeflate",
  "tls",
  "upgradeTimeout",
  "maxPendingUpgrades",
  "maxHeaderSize",
  "captureHeaders",
  "pubsub",
]);

function deflateOptions(value: unknown): Required<PerMessageDeflateOptions> | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { threshold: DEFAULT_DEFLATE_THRESHOLD, level: DEFAULT_DEFLATE_LEVEL };
  if (value === null || typeof value !== "object") throw invalidType("perMessageDeflate", "a boolean or an object", value);
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (key !== "threshold" && key !== "level") throw invalidType(`perMessageDeflate.${key}`, "one of threshold, level", key);
  }
  return {
    threshold: integer("perMessageDeflate.threshold", o.threshold, DEFAULT_DEFLATE_THRESHOLD, 0, 2 ** 32 - 1),
    level: integer("perMessageDeflate.level", o.level, DEFAULT_DEFLATE_LEVEL, 1, 9),
  };
}

const MAX_CAPTURED_HEADERS = 32;

function captureHeaders(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidType("captureHeaders", "an array of header names", value);
  if (value.length > MAX_CAPTURED_HEADERS) throw outOfRange("captureHeaders", `at most ${MAX_CAPTURED_HEADERS} names`, value);
  const names = new Set<string>();
  for (const name of value) {
    if (typeof name !== "string") throw invalidType("captureHeaders[]", "a string", name);
    if (!HTTP_TOKEN.test(name)) throw outOfRange("captureHeaders[]", "an HTTP header name", name);
    names.add(name.toLowerCase());
  }
  return [...names];
}

// The I/O thread checks idleness once a second; it takes the milliseconds as a 32-bit value.
const MAX_IDLE_TIMEOUT = 2 ** 31 - 1;

function idleTimeout(value: unknown): number {
  const ms = integer("idleTimeout", value, DEFAULT_IDLE_TIMEOUT, 0, MAX_IDLE_TIMEOUT);
  if (ms > 0 && ms < 1000) {
    throw outOfRange("idleTimeout", `0 (off) or at least 1000: it is in milliseconds (${ms * 1000} for ${ms} s)`, value);
  }
  return ms;
}

/** Checks every option, throwing `TypeError`/`RangeError` with a Node-style `code`. */
export function resolveServerOptions<T>(options: ServerOptions<T>): ResolvedServerOptions<T> {
  if (options === null || typeof options !== "object") throw invalidType("options", "an object", options);
  rejectUnknownOptions(options, KNOWN);
  const handlers: ServerHandlers<T> = {};
  for (const name of HANDLERS) {
    const fn = options[name];
    if (fn === undefined) continue;
    if (typeof fn !== "function") throw invalidType(name, "a function", fn);
    (handlers as Record<string, unknown>)[name] = fn;
  }
  const host = options.host ?? "";
  if (typeof host !== "string") throw invalidType("host", "a string", host);
  const { paths, predicate } = resolvePath(options.path);
  const noServer = boolean("noServer", options.noServer, false);
  const server = options.server;
  if (server !== undefined && (server === null || typeof server !== "object" || typeof (server as { on?: unknown }).on !== "function" || typeof (server as { listen?: unknown }).listen !== "function")) {
    throw invalidType("server", "a node:http or node:https server", server);
  }
  const unix = options.unix ?? "";
  if (typeof unix !== "string") throw invalidType("unix", "a string (a socket path)", unix);
  if (Buffer.byteLength(unix) > 107) throw outOfRange("unix", "a path of at most 107 bytes", unix);
  const attaching = server !== undefined || noServer;
  const conflicts: [string, boolean][] = [
    ["server", server !== undefined],
    ["noServer", noServer],
    ["port", options.port !== undefined],
    ["host", options.host !== undefined],
    ["unix", unix !== ""],
    ["tls", options.tls !== undefined && attaching],
    ["reusePort", options.reusePort !== undefined && (attaching || unix !== "")],
    ["http", options.http !== undefined && attaching],
  ];
  const set = conflicts.filter(([, on]) => on).map(([name]) => name);
  const exclusive = set.filter((n) => n === "server" || n === "noServer" || n === "unix");
  if (exclusive.length > 0 && set.length > 1) {
    const other = set.find((n) => n !== exclusive[0])!;
    const err = new TypeError(`The "${exclusive[0]}" and "${other}" options cannot be used together`);
    (err as TypeError & { code: string }).code = "ERR_INCOMPATIBLE_OPTION_PAIR";
    throw err;
  }
  return {
    port: integer("port", options.port, 0, 0, 65535),
    host,
    ...(attaching ? { attach: server === undefined ? {} : { server } } : {}),
    unix,
    reusePort: boolean("reusePort", options.reusePort, false),
    paths,
    captureHeaders: captureHeaders(options.captureHeaders),
    ...(predicate ? { pathFilter: predicate } : {}),
    upgradeTimeout: integer("upgradeTimeout", options.upgradeTimeout, DEFAULT_UPGRADE_TIMEOUT, 1, 300_000),
    maxPendingUpgrades: integer("maxPendingUpgrades", options.maxPendingUpgrades, DEFAULT_MAX_PENDING_UPGRADES, 1, MAX_PENDING_UPGRADES_LIMIT),
    maxHeaderSize: integer("maxHeaderSize", options.maxHeaderSize, DEFAULT_MAX_HEADER_SIZE, 256, MAX_HEADER_SIZE_LIMIT),
    maxPayloadLength: integer("maxPayloadLength", options.maxPayloadLength, DEFAULT_MAX_PAYLOAD_LENGTH, 1, MAX_PAYLOAD_LIMIT),
    maxBackpressure: integer("maxBackpressure", options.maxBackpressure, DEFAULT_MAX_BACKPRESSURE, 1, Number.MAX_SAFE_INTEGER),
    closeOnBackpressureLimit: boolean("closeOnBackpressureLimit", options.closeOnBackpressureLimit, false),
    maxConnections: integer("maxConnections", options.maxConnections, 0, 0, 2 ** 31 - 1),
    maxConnectionsPerIp: integer("maxConnectionsPerIp", options.maxConnectionsPerIp, 0, 0, 2 ** 31 - 1),
    handshakeRateLimit: integer("handshakeRateLimit", options.handshakeRateLimit, 0, 0, 2 ** 31 - 1),
    idleTimeout: idleTimeout(options.idleTimeout),
    sendPings: boolean("sendPings", options.sendPings, true),
    closeTimeout: integer("closeTimeout", options.closeTimeout, DEFAULT_CLOSE_TIMEOUT, 0, 2 ** 31 - 1),
    handshakeTimeout: integer("handshakeTimeout", options.handshakeTimeout, DEFAULT_HANDSHAKE_TIMEOUT, 1, 3_600_000),
    perMessageDeflate: deflateOptions(options.perMessageDeflate),
    tls: options.tls,
    ...(options.pubsub !== undefined ? { pubsub: resolvePubSub(options.pubsub) } : {}),
    handlers,
  };
}
