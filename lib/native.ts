// Loads the compiled addon and describes its surface. Internal: users never see these types.
import { createRequire } from "node:module";
import { join } from "node:path";
import { packageRoot } from "./package-root.cjs";

/** Options the I/O thread needs to open one listening vhost. */
export interface NativeListenOptions {
  id: number;
  port: number;
  host: string;
  /** Paths accepted natively; empty: any (or what the upgrade hook decides). */
  paths: string[];
  /** Lower-case names of the request headers each socket keeps from its handshake. */
  captureHeaders: string[];
  /** Every upgrade waits for JS (an Upgrade event, then upgradeAccept/upgradeReject). */
  upgradeHook: boolean;
  upgradeTimeout: number;
  maxPendingUpgrades: number;
  maxHeaderSize: number;
  maxPayloadLength: number;
  maxBackpressure: number;
  closeOnBackpressureLimit: boolean;
  maxConnections: number;
  /** 0: no limit (see ServerOptions). */
  maxConnectionsPerIp: number;
  handshakeRateLimit: number;
  idleTimeout: number;
  sendPings: boolean;
  closeTimeoutMs: number;
  /** Seconds (lws's unit). */
  handshakeTimeout: number;
  /** permessage-deflate: set (with deflateLevel) only when the server offers it. */
  deflateThreshold?: number;
  deflateLevel?: number;
  /** PEM certificate and unencrypted PEM key for wss:// (both or neither). */
  tlsCert?: string;
  tlsKey?: string;
  /** PEM of the intermediates sent after tlsCert, and certificates chosen by SNI name. */
  tlsChain?: string;
  tlsSni?: { name: string; cert: string; key: string }[];
  /** No listener: connections are adopted from a Node HTTP server (`adopt`). */
  attached?: boolean;
  /** Listen on this Unix domain socket path instead of host and port. */
  unix?: string;
  /** SO_REUSEPORT: other processes may listen on the same port. */
  reusePort?: boolean;
  /** Plain HTTP requests go to JS (HttpRequest events, answered with upgradeReject). */
  httpHook?: boolean;
  /** TLS policy (with tlsCert): client-certificate CA PEM, mTLS flags, 0x0303/0x0304, cipher lists. */
  tlsClientCa?: string;
  tlsRequestCert?: boolean;
  tlsRejectUnauthorized?: boolean;
  tlsMinVersion?: number;
  tlsCiphers?: string;
  tlsCiphersuites?: string;
}

/** What setTls() replaces on a listening wss:// server: the tls* fields of NativeListenOptions. */
export type NativeTlsOptions = Required<Pick<NativeListenOptions, "tlsCert" | "tlsKey" | "tlsChain" | "tlsSni" | "tlsClientCa" | "tlsRequestCert" | "tlsRejectUnauthorized" | "tlsMinVersion" | "tlsCiphers" | "tlsCiphersuites">>;

/** Options the I/O thread needs to open one client connection. */
export interface NativeConnectOptions {
  id: number;
  /** Numeric IPv4/IPv6 address (JS resolved the name). */
  address: string;
  /** Host header value, also used (without a port) for TLS SNI and certificate verification. */
  host: string;
  port: number;
  /** Path and query. */
  path: string;
  origin: string;
  /** Comma-separated subprotocols offered, or "". */
  protocols: string;
  /** Extra handshake headers as [name, value, name, value, ...]. */
  headers: string[];
  tls: boolean;
  /** PEM trust anchor for wss://, or "" for the system's. */
  ca: string;
  rejectUnauthorized: boolean;
  /** PEM client certificate and unencrypted key ("" for none). */
  cert: string;
  key: string;
  /** SNI and verification name ("" for the host's). */
  servername: string;
  minVersion: number;
  ciphers: string;
  ciphersuites: string;
  /** Numeric address of an HTTP proxy to tunnel through (CONNECT); `address` is then the host name. */
  proxyAddress?: string;
  proxyPort?: number;
  /** Offer permessage-deflate (inbound inflated by lws, outbound compressed by our Deflater). */
  perMessageDeflate: boolean;
  handshakeTimeoutMs: number;
  maxPayloadLength: number;
  closeTimeoutMs: number;
}

/**
 * One I/O thread with its own uv loop and lws context. Every method only queues a command;
 * results come back as event records through the dispatch callback.
 */
export interface NativeReactor {
  /** Opens a vhost; returns its live stats (see STAT_* in server-stats.ts), updated by the I/O thread. */
  listen(options: NativeListenOptions): Float64Array;
  /** Copies `data` once into a native frame and queues it for `slot`; returns its payload bytes. */
  send(slot: number, data: string | ArrayBufferView, binary: boolean, flags: number): number;
  /** Queues the first `used` bytes of `stage`: small sends staged by JS (lib/send-stage.ts), copied. */
  sendBatch(stage: ArrayBuffer, used: number): void;
  /** Wakes the I/O thread for the commands queued by send/ping/publish/broadcast (they do not). */
  flushWake(): void;
  /** Asks for a drain event once everything queued for `slot` so far is written. */
  watchDrain(slot: number): void;
  /** `discardQueue`: drop what is queued instead of writing it first (slow-consumer policy). */
  close(slot: number, code: number, reason: string, discardQueue?: boolean): void;
  ping(slot: number, data: string | ArrayBufferView): number;
  subscribe(slot: number, topic: string): void;
  unsubscribe(slot: number, topic: string): void;
  /**
   * One frame for every subscriber of `topic` on server `id`, except `senderSlot` (-1: none);
   * returns its payload bytes, which JS counts in each receiver's bufferedAmount through the
   * topic's account (a receiver that drops it natively takes them off its counter again).
   */
  publish(id: number, topic: string, data: string | ArrayBufferView, binary: boolean, senderSlot: number, compress: boolean): number;
  /**
   * As publish, to every open socket of server `id`, but counted in bufferedAmount natively,
   * at fan-out (it also reaches sockets whose open JS has not dispatched yet).
   */
  broadcast(id: number, data: string | ArrayBufferView, binary: boolean, compress: boolean): number;
  terminate(slot: number): void;
  /** JS has processed the slot's close: native code may reuse it. */
  release(slot: number): void;
  stopServer(id: number): void;
  /** Replaces server `id`'s certificates and TLS policy for new handshakes; a TlsApplied event (b = seq) follows. */
  setTls(id: number, seq: number, options: NativeTlsOptions): void;
  /** Starts a client connection; an Open event (a = id) or a ConnectError event follows. */
  connect(options: NativeConnectOptions): void;
  /** Gives up connect `id` in progress (ConnectError EABORTED), or terminates it if established. */
  abortConnect(id: number): void;
  /** Stops (`true`) or restarts (`false`) reading `slot`'s socket for a JS consumer that is full. */
  holdReads(slot: number, hold: boolean): void;
  /** The shared bufferedAmount counters of slots [chunk * 1024, chunk * 1024 + 1024). */
  counters(chunk: number): Float64Array | undefined;
  shutdown(): void;
  join(): void;
  ref(): void;
  unref(): void;
  /** While on (counted), batches JS dispatches are not acknowledged: held closes wait (see Connection::onCloseHold). */
  holdAcks(on: boolean): void;
  /** Which lws log levels (LLL_* bits) reach the dispatch function as log events. */
  setLogLevels(mask: number): void;
  /** Finishes parked handshake `upgradeId` of server `id` with a 101 naming `protocol` ("" for none) plus `headerLines` ("Name: value\r\n"...). */
  upgradeAccept(id: number, upgradeId: number, protocol: string, headerLines: string): void;
  /** Answers parked handshake `upgradeId` with `response` (a whole HTTP response) and closes it. */
  upgradeReject(id: number, upgradeId: number, response: Uint8Array): void;
  /**
   * Hands connected socket `fd` to the I/O thread for attached server `id`, with the bytes
   * already read from it. `fd` is duplicated (the caller closes its own) unless `owned`.
   * `attachId` comes back with the Upgrade event; `peer` is the client's address when the
   * I/O thread cannot see it (a socketPair), else "". False if it could not be handed over.
   */
  adopt(id: number, fd: number, preamble: Uint8Array, attachId: number, owned: boolean, peer: string): boolean;
  /** A connected pair of Unix stream sockets. */
  socketPair(): [number, number];
  /** The id of server `id`'s door for other threads' publishers (native/publisher.h). */
  publisherHandle(id: number): number;
  /** Server `id` is closing: its publishers' later calls return false. */
  closePublishers(id: number): void;
}

/**
 * One delivery of events (lib/inbox.ts): `inbox` when the native side made a new one (JS keeps
 * using the last one otherwise), and the large payloads the records name by index. Returns how
 * many bytes of the send stage (the Reactor's third argument) the native side takes as one
 * sendBatch when the call returns (0: none), which spares the delivery a Node-API call.
 */
export type Dispatch = (inbox: ArrayBuffer | undefined, large: Buffer[] | undefined) => number;

interface Addon {
  /** `stage`: the send stage (lib/send-stage.ts) that dispatch's return value refers to. */
  Reactor: new (dispatch: Dispatch, logLevels: number, stage: ArrayBuffer) => NativeReactor;
  lwsVersion: string;
}

function load(): Addon {
  const require = createRequire(join(packageRoot, "package.json"));
  // LWSNODE_ADDON points at another build of the same addon (e.g. the sanitizer build).
  const override = process.env.LWSNODE_ADDON;
  if (override) return require(override) as Addon;
  const nodeGypBuild = require("node-gyp-build") as (dir: string) => Addon;
  return nodeGypBuild(packageRoot);
}

export const addon: Addon = load();

/** Send flag: JS saw backpressure and wants a drain event once the queue is flushed. */
export const NOTIFY_DRAIN = 1;
/** send() flag: the message may be compressed (permessage-deflate). */
export const COMPRESS = 8;
/** A staged send's flag (lib/send-stage.ts): a binary frame, else text. */
export const BINARY = 16;

/** Event types shared with native/event_batch.h (record layout: lib/inbox.ts). */
export const EV_OPEN = 1;
export const EV_MESSAGE = 2;
export const EV_CLOSE = 3;
export const EV_DRAIN = 4;
export const EV_LISTENING = 5;
export const EV_LISTEN_ERROR = 6;
export const EV_SERVER_CLOSED = 7;
export const EV_STOPPED = 8;
export const EV_PONG = 9;
export const EV_LOG = 10;
export const EV_UPGRADE = 11;
export const EV_UPGRADE_GONE = 12;
export const EV_PING = 13;
export const EV_CONNECT_ERROR = 14;
export const EV_HTTP_REQUEST = 15;
export const EV_PEER_CERT = 30;
export const EV_TLS_APPLIED = 31;
