// createServer() and the Server it resolves to.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { attach, detach, handOver } from "./attach.js";
import { ClosedError, invalidType, ListenError, withCode } from "./errors.js";
import { resolveHost } from "./resolve-host.js";
import { currentReactor, reportUncaught, type Endpoint, type Reactor } from "./reactor.js";
import { resolveServerOptions, type ResolvedServerOptions, type ServerHandlers, type ServerOptions } from "./server-options.js";
import { checkTopic, sendArgs, type SendData } from "./send-args.js";
import { PublishStatus } from "./send-status.js";
import { ServerWebSocket, type SocketHost } from "./server-websocket.js";
import { SocketCore } from "./socket-core.js";
import { decodePeerCertificate, type PeerCertificate, type ResolvedTls, resolveTls, TlsConfigError, type TlsOptions } from "./tls-options.js";
import type { NativeTlsOptions } from "./native.js";
import type { PublisherHandle } from "./publisher.js";
import { TopicBridge } from "./pubsub/bridge.js";
import { newOrigin } from "./pubsub/envelope.js";
import { portablePubSub } from "./pubsub/options.js";
import { decodeUpgradeRequest, rejectResponse, resolveDecision } from "./upgrade.js";
import { httpResponse } from "./http-handler.js";

/** A snapshot of a server's counters (`server.stats()`). */
export interface ServerStats {
  /** Open connections. */
  connections: number;
  /** Connections accepted since listening. */
  connectionsTotal: number;
  /** Upgrades refused: wrong path, limits, the `upgrade` handler, or closing. */
  rejected: number;
  /** Whole messages received (after reassembly). */
  messagesIn: number;
  /** Payload bytes of the messages received. */
  bytesIn: number;
  /** Frames written: a publish to 1,000 subscribers counts 1,000. */
  messagesOut: number;
  /** Payload bytes written. */
  bytesOut: number;
  /** Payload bytes queued on the I/O thread, not yet written. */
  queuedBytes: number;
  /** Messages not sent because a socket was over `maxBackpressure` (sends and publish deliveries). */
  dropped: number;
  /** With `pubsub`: messages Redis acknowledged. */
  pubsubPublished?: number;
  /** With `pubsub`: messages waiting for Redis to come back. */
  pubsubBuffered?: number;
  /** With `pubsub`: messages lost (buffer full while Redis was away, or in flight when the connection broke). */
  pubsubDropped?: number;
  /** With `pubsub`: of `pubsubDropped`, those in flight when the connection broke (Redis may have delivered them). */
  pubsubUnconfirmed?: number;
  /** With `pubsub`: messages received from other servers and delivered here. */
  pubsubReceived?: number;
  /** With `pubsub`: whether the Redis connection is up. */
  pubsubConnected?: boolean;
}

// Field order of native/server_stats.h.
const STAT_CONNECTIONS = 0;
const STAT_CONNECTIONS_TOTAL = 1;
const STAT_REJECTED = 2;
const STAT_MESSAGES_IN = 3;
const STAT_BYTES_IN = 4;
const STAT_MESSAGES_OUT = 5;
const STAT_BYTES_OUT = 6;
const STAT_QUEUED_BYTES = 7;
const STAT_DROPPED = 8;

type State = "starting" | "listening" | "closing" | "closed";

/**
 * A listening WebSocket server. Its sockets live on the environment's I/O thread; its
 * handlers run on the JS thread. While listening it keeps the process alive, like a
 * `net.Server`, unless `unref()`'d; a closed server never does.
 *
 * @typeParam T - the type of each socket's `data`
 */
export class Server<T = unknown> implements Endpoint {
  #reactor: Reactor;
  #options: ResolvedServerOptions<T>;
  #handlers: ServerHandlers<T>;
  #host: SocketHost<T>;
  #id: number;
  #state: State = "starting";
  #port = 0;
  #refed = true;
  #holding = false;
  #connections = 0;
  #lastAddress = ""; // the remoteAddress of the last socket opened (see _open)
  #stats?: Float64Array; // live native counters (shared memory)
  #droppedSends = 0;
  // topic -> subscribed sockets, mirrored in JS: publish() counts each one's bufferedAmount.
  #subscribers = new Map<string, Set<ServerWebSocket<T>>>();
  #sockets = new Set<ServerWebSocket<T>>(); // open sockets, for broadcast()'s accounting
  #listen?: { resolve(server: Server<T>): void; reject(err: Error): void };
  #closed?: Promise<void>;
  #resolveClosed?: () => void;

  #tls?: ResolvedTls;
  #isTls: boolean;
  // The peer certificate of the Open/Upgrade event that follows its PeerCert event.
  #nextPeer?: { id: number; forUpgrade: boolean; cert: PeerCertificate };
  #tlsRequests = new Map<number, { resolve(): void; reject(err: Error): void }>();
  #tlsSeq = 0;
  // ws.data the upgrade handler chose, by handshake, until its socket opens (or never will).
  #upgradeData = new Map<number, T>();
  // Attached: the Node request of each handover, until its handshake reaches the hook.
  #handedOver = new Map<number, IncomingMessage>();
  #nextAttachId = 1;
  // Topics bridged through Redis (`pubsub`), and this server's id in its envelopes.
  #bridge?: TopicBridge;
  #origin?: Buffer;
  #bridgeClosed?: Promise<void>;

  /** @internal Use {@link createServer}. */
  constructor(options: ResolvedServerOptions<T>, tls?: ResolvedTls) {
    this.#tls = tls;
    this.#isTls = tls !== undefined;
    this.#options = options;
    this.#handlers = options.handlers;
    if (options.pubsub) {
      this.#origin = newOrigin();
      this.#bridge = new TopicBridge(options.pubsub, this.#origin, (topic, payload, isBinary, compress) =>
        this.#deliverRemote(topic, payload, isBinary, compress),
      );
    }
    this.#reactor = currentReactor();
    this.#id = this.#reactor.add(this);
    const handlers = this.#handlers;
    // All a socket may reach of its server (see SocketHost): no socket sees the rest.
    this.#host = {
      maxBackpressure: options.maxBackpressure,
      closeOnBackpressureLimit: options.closeOnBackpressureLimit,
      droppedSend: () => {
        this.#droppedSends++;
      },
      subscribed: (topic, ws, joined) => this.#subscribed(topic, ws, joined),
      publish: (topic, data, isBinary, sender, compress) => this.#publish(topic, data, isBinary, sender, compress),
      message: (ws, data, isBinary) => handlers.message?.(ws, data, isBinary),
      drain: (ws) => handlers.drain?.(ws),
      pong: (ws, data) => handlers.pong?.(ws, data),
      ping: (ws, data) => handlers.ping?.(ws, data),
      closed: (ws, code, reason) => {
        this.#connections--;
        this.#sockets.delete(ws);
        handlers.close?.(ws, code, reason);
      },
    };
  }

  /**
   * The port it listens on (the one the kernel chose when you asked for 0); attached, the
   * HTTP server's port; 0 with `noServer` or `unix`.
   */
  get port(): number {
    const http = this.#options.attach?.server;
    if (http) {
      const address = http.address();
      return address !== null && typeof address === "object" ? address.port : 0;
    }
    return this.#port;
  }

  /**
   * Hands one upgrade request over to this server (for `noServer`, or your own routing with
   * `server`): call it from an HTTP server's `'upgrade'` listener with its arguments. The
   * socket then belongs to the I/O thread (Node's socket object is destroyed without
   * touching the connection); the handshake goes on as on a listening server (`path`,
   * `upgrade` hook with `req.httpRequest`, subprotocols, deflate), then `open`. A path this
   * server does not serve is answered 404; a server that is closing answers 503.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#options.attach === undefined) {
      throw withCode(new TypeError("handleUpgrade() needs a server created with `server` or `noServer`"), "ERR_INVALID_STATE");
    }
    if (this.#state !== "listening") {
      socket.end("HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 20\r\nconnection: close\r\n\r\nService Unavailable\n");
      return;
    }
    const attachId = this.#nextAttachId++;
    if (this.#nextAttachId > 0xffffffff) this.#nextAttachId = 1;
    const hooked = this.#handlers.upgrade !== undefined || this.#options.pathFilter !== undefined;
    if (hooked) {
      this.#handedOver.set(attachId, req);
      // A handshake refused before the hook (malformed, limits) never comes back for it.
      setTimeout(() => this.#handedOver.delete(attachId), this.#options.handshakeTimeout).unref();
    }
    if (!handOver(this.#reactor.native, this.#id, req, socket, head, attachId)) this.#handedOver.delete(attachId);
  }

  /** @internal Whether an upgrade to `path` is this server's (attached). */
  _wantsPath(path: string): boolean {
    const o = this.#options;
    if (o.paths.length > 0) return o.paths.includes(path);
    return o.pathFilter ? o.pathFilter(path) === true : true;
  }

  /** The address it listens on; `""` means every interface. */
  get host(): string {
    return this.#options.host;
  }

  /** True from the moment `createServer()` resolves until `close()` is called. */
  get listening(): boolean {
    return this.#state === "listening";
  }

  /** Open connections (their `close` handler has not run yet). */
  get connections(): number {
    return this.#connections;
  }

  /**
   * Sends one message to every socket subscribed to `topic`. The data is copied and framed
   * once; every subscriber's queue shares that frame, and the fan-out runs on the I/O thread.
   * Messages published from this thread arrive at each subscriber in publish order.
   *
   * Backpressure: the message counts in every subscriber's `bufferedAmount` from this call on
   * (also before the I/O thread has fanned it out) until it is written. When that leaves a
   * subscriber at `BACKPRESSURE_HIGH_WATER_MARK` or more, the result is
   * `PublishStatus.BACKPRESSURE` and that subscriber's `drain` handler runs once it has
   * written everything, so a publisher can pace on the subscribers it cares about. A subscriber
   * already over `maxBackpressure` when the fan-out reaches it misses the message (counted in
   * `stats().dropped`, and no longer in its `bufferedAmount`) or, with
   * `closeOnBackpressureLimit`, is closed with 1008.
   *
   * With `pubsub`, the message also goes to every server bridged through the same Redis (see
   * the README's "Scaling out"), and each of their subscribers gets it once.
   *
   * @param compress - with `perMessageDeflate`, subscribers that negotiated it get the message
   *   compressed (once, on the I/O thread, shared by all of them) if it is at least the
   *   `threshold` long. Default true.
   * @returns `PublishStatus.NOT_PUBLISHED` (0) if the topic had no subscribers (after the
   *   subscribe/unsubscribe calls made so far) or the server is not listening, else `SUCCESS`
   *   or `BACKPRESSURE`; with `pubsub`, at least `SUCCESS` whenever the server is listening
   *   (other servers may have subscribers).
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) for a topic that is not a string, data that is
   *   not a string or bytes, or `isBinary`/`compress` that are not booleans; RangeError
   *   (`ERR_OUT_OF_RANGE`) for an empty or over-long topic.
   */
  publish(topic: string, data: SendData, isBinary: boolean = typeof data !== "string", compress: boolean = true): PublishStatus {
    checkTopic(topic);
    const bytes = sendArgs("server.publish(topic, data, isBinary?, compress?)", data, isBinary, compress);
    return this.#publish(topic, bytes, isBinary, undefined, compress);
  }

  /**
   * Sends one message to every open socket of this server (one shared frame, fanned out on the
   * I/O thread), also to sockets whose `open` handler has not run yet. It counts in a socket's
   * `bufferedAmount` once fanned out (pace on `publish` to a topic for accounting from the
   * call on). `BACKPRESSURE` (with `drain` to follow) when a socket the server has opened
   * holds the high-water mark or more with this message.
   * @returns `PublishStatus.NOT_PUBLISHED` (0) if the server is not listening, else `SUCCESS`
   *   or `BACKPRESSURE`.
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) as `publish` does.
   */
  broadcast(data: SendData, isBinary: boolean = typeof data !== "string", compress: boolean = true): PublishStatus {
    const bytes = sendArgs("server.broadcast(data, isBinary?, compress?)", data, isBinary, compress);
    if (this.#state !== "listening") return PublishStatus.NOT_PUBLISHED;
    const queued = this.#reactor.native.broadcast(this.#id, bytes, isBinary, compress);
    this.#reactor.cork();
    let pressured = false;
    for (const ws of this.#sockets) if (ws._pressuredWith(queued)) pressured = true;
    return pressured ? PublishStatus.BACKPRESSURE : PublishStatus.SUCCESS;
  }

  /** Sockets subscribed to `topic`. */
  subscriberCount(topic: string): number {
    return this.#subscribers.get(topic)?.size ?? 0;
  }

  /**
   * A handle to publish to this server from another thread: post it to a `Worker` and call
   * {@link createPublisher} there. Its publishes go straight to the I/O thread (not through
   * this thread), in order per publishing thread; after `close()` they return false. With
   * `pubsub`, the worker's publisher also reaches the other bridged servers (it opens its own
   * Redis connection).
   *
   * @throws {@link ClosedError} once `close()` was called.
   */
  publisherHandle(): PublisherHandle {
    if (this.#state === "closing" || this.#state === "closed") throw new ClosedError("server is closed");
    const id = this.#reactor.native.publisherHandle(this.#id);
    const pubsub = this.#options.pubsub;
    return pubsub && this.#origin
      ? { kind: "lwsnode.publisher", id, pubsub: { options: portablePubSub(pubsub), origin: this.#origin.toString("hex") } }
      : { kind: "lwsnode.publisher", id };
  }

  /** Live counters; reading them costs no call into native code. */
  stats(): ServerStats {
    const local = this.#localStats();
    if (!this.#bridge) return local;
    const b = this.#bridge.counters();
    return { ...local, pubsubPublished: b.published, pubsubBuffered: b.buffered, pubsubDropped: b.dropped, pubsubUnconfirmed: b.unconfirmed, pubsubReceived: b.received, pubsubConnected: b.connected };
  }

  #localStats(): ServerStats {
    const v = this.#stats;
    if (!v) {
      return { connections: 0, connectionsTotal: 0, rejected: 0, messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0, queuedBytes: 0, dropped: this.#droppedSends };
    }
    return {
      connections: v[STAT_CONNECTIONS]!,
      connectionsTotal: v[STAT_CONNECTIONS_TOTAL]!,
      rejected: v[STAT_REJECTED]!,
      messagesIn: v[STAT_MESSAGES_IN]!,
      bytesIn: v[STAT_BYTES_IN]!,
      messagesOut: v[STAT_MESSAGES_OUT]!,
      bytesOut: v[STAT_BYTES_OUT]!,
      queuedBytes: v[STAT_QUEUED_BYTES]!,
      dropped: v[STAT_DROPPED]! + this.#droppedSends,
    };
  }

  // `sender`: the socket publishing (it receives nothing), if any.
  #publish(
    topic: string,
    data: string | ArrayBufferView,
    isBinary: boolean,
    sender: ServerWebSocket<T> | undefined,
    compress: boolean,
  ): PublishStatus {
    if (this.#state !== "listening") return PublishStatus.NOT_PUBLISHED;
    const subscribers = this.#subscribers.get(topic);
    let status: PublishStatus = PublishStatus.NOT_PUBLISHED;
    if (subscribers !== undefined && !(subscribers.size === 1 && sender !== undefined && subscribers.has(sender))) {
      const bytes = this.#reactor.native.publish(this.#id, topic, data, isBinary, sender?._slot ?? -1, compress);
      this.#reactor.cork();
      status = this.#account(subscribers, bytes, sender);
    }
    if (!this.#bridge) return status;
    this.#bridge.publish(topic, data, isBinary, compress); // other servers (our echo is skipped)
    return status === PublishStatus.NOT_PUBLISHED ? PublishStatus.SUCCESS : status;
  }

  // A message another bridged server published: one native fan-out, as a local publish.
  #deliverRemote(topic: string, payload: Buffer, isBinary: boolean, compress: boolean): void {
    const subscribers = this.#subscribers.get(topic);
    if (this.#state !== "listening" || subscribers === undefined) return;
    const bytes = this.#reactor.native.publish(this.#id, topic, payload, isBinary, -1, compress);
    this.#reactor.cork(); // one wakeup for every message of this turn
    this.#account(subscribers, bytes, undefined);
  }

  // Every receiver's bufferedAmount counts the message from now on (the fan-out on the I/O
  // thread comes later, in command order); receivers it leaves at the high-water mark or above
  // get a drain watch, queued after the message.
  #account(receivers: Set<ServerWebSocket<T>>, bytes: number, sender: ServerWebSocket<T> | undefined): PublishStatus {
    let pressured = false;
    for (const ws of receivers) {
      if (ws !== sender && ws._published(bytes)) pressured = true;
    }
    return pressured ? PublishStatus.BACKPRESSURE : PublishStatus.SUCCESS;
  }

  // `ws` joined (true) or left (false) `topic`.
  #subscribed(topic: string, ws: ServerWebSocket<T>, joined: boolean): void {
    let set = this.#subscribers.get(topic);
    if (joined) {
      if (!set) this.#subscribers.set(topic, (set = new Set()));
      set.add(ws);
    } else if (set) {
      set.delete(ws);
      if (set.size === 0) this.#subscribers.delete(topic);
    }
    const n = this.#subscribers.get(topic)?.size ?? 0;
    // The Redis channel follows local membership: joined by the first socket, left by the last.
    if (n === 1 && joined) this.#bridge?.join(topic);
    else if (n <= 0) this.#bridge?.leave(topic);
  }

  /**
   * Stops accepting, closes every connection with 1001 (after what was already queued for
   * it), waits up to `closeTimeout` ms for their closing handshakes, drops the rest, and
   * releases the port. Every socket's `close` handler has run when the promise resolves.
   * Calling it again returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#closed = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
    });
    if (this.#state === "closed") {
      void (this.#bridgeClosed ?? Promise.resolve()).then(this.#resolveClosed);
    } else {
      this.#state = "closing";
      this.#syncHold();
      this.#reactor.native.closePublishers(this.#id); // other threads' publishes now return false
      this.#reactor.native.stopServer(this.#id);
      if (this.#options.attach?.server) detach(this.#options.attach.server, this);
    }
    return this.#closed;
  }

  /** Lets the process exit while this server is listening (it keeps serving until then). */
  unref(): this {
    this.#refed = false;
    this.#syncHold();
    return this;
  }

  /** Undoes `unref()`: a listening server keeps the process alive (the default). */
  ref(): this {
    this.#refed = true;
    this.#syncHold();
    return this;
  }

  /** @internal */
  _start(): Promise<Server<T>> {
    this.#syncHold();
    const o = this.#options;
    try {
      this.#stats = this.#listenNative(o);
    } catch (err) {
      // Nothing was queued: let go of the hold and the reactor, as a failed listen would.
      this.#finish();
      return Promise.reject(err);
    }
    this.#tls = undefined; // the native side has its own copy
    return new Promise((resolve, reject) => {
      this.#listen = { resolve, reject };
    });
  }

  #listenNative(o: ResolvedServerOptions<T>): Float64Array {
    return this.#reactor.native.listen({
      id: this.#id,
      port: o.port,
      host: o.host,
      paths: o.paths,
      captureHeaders: o.captureHeaders,
      upgradeHook: this.#handlers.upgrade !== undefined || o.pathFilter !== undefined,
      upgradeTimeout: o.upgradeTimeout,
      maxPendingUpgrades: o.maxPendingUpgrades,
      maxHeaderSize: o.maxHeaderSize,
      maxPayloadLength: o.maxPayloadLength,
      maxBackpressure: o.maxBackpressure,
      closeOnBackpressureLimit: o.closeOnBackpressureLimit,
      maxConnections: o.maxConnections,
      maxConnectionsPerIp: o.maxConnectionsPerIp,
      handshakeRateLimit: o.handshakeRateLimit,
      idleTimeout: o.idleTimeout,
      sendPings: o.sendPings,
      closeTimeoutMs: o.closeTimeout,
      handshakeTimeout: Math.ceil(o.handshakeTimeout / 1000), // native: whole seconds
      attached: o.attach !== undefined,
      ...(o.unix !== "" ? { unix: o.unix } : {}),
      reusePort: o.reusePort,
      httpHook: this.#handlers.http !== undefined,
      ...(o.perMessageDeflate ? { deflateThreshold: o.perMessageDeflate.threshold, deflateLevel: o.perMessageDeflate.level } : {}),
      ...(this.#tls ? nativeTls(this.#tls) : {}),
    });
  }

  /**
   * Replaces the certificates (and any other `tls` setting) of this `wss://` server without a
   * restart, e.g. for a renewal: handshakes that start after the promise resolves use the new
   * ones; open connections are not touched. `tls` is a complete `tls` option, as
   * createServer takes it (SNI entries included: entries left out are removed).
   *
   * @throws (rejects with) `TlsConfigError`/`TypeError` for an unusable `tls` (the old settings
   *   stay), `ClosedError` if the server is closed, `TypeError` (`ERR_INVALID_ARG_TYPE`) on a
   *   server without TLS.
   */
  async setTls(tls: TlsOptions): Promise<void> {
    if (!this.#isTls) throw invalidType("setTls", "called on a server created with a tls option", undefined);
    const resolved = await resolveTls(tls);
    if (this.#state === "closed" || this.#state === "closing") throw new ClosedError("setTls on a closed server");
    const seq = ++this.#tlsSeq;
    const done = new Promise<void>((resolve, reject) => this.#tlsRequests.set(seq, { resolve, reject }));
    this.#reactor.native.setTls(this.#id, seq, nativeTls(resolved));
    return done;
  }

  /** @internal */
  _tlsApplied(seq: number, error: string): void {
    const request = this.#tlsRequests.get(seq);
    this.#tlsRequests.delete(seq);
    if (!request) return;
    if (error === "") request.resolve();
    else request.reject(new TlsConfigError(error.startsWith("ERR_TLS_CIPHERS") ? "ERR_TLS_CIPHERS" : "ERR_TLS_CERT", error.slice(error.indexOf(" ") + 1)));
  }

  /** @internal */
  _peerCert(id: number, forUpgrade: boolean, bytes: Buffer): void {
    const cert = decodePeerCertificate(bytes);
    this.#nextPeer = cert ? { id, forUpgrade, cert } : undefined;
  }

  #takePeer(id: number, forUpgrade: boolean): PeerCertificate | undefined {
    const next = this.#nextPeer;
    this.#nextPeer = undefined;
    return next && next.id === id && next.forUpgrade === forUpgrade ? next.cert : undefined;
  }

  /** @internal */
  _listening(port: number): void {
    this.#port = port;
    if (this.#state === "starting") {
      this.#state = "listening";
      if (this.#options.attach?.server) attach(this.#options.attach.server, this);
    }
    this.#syncHold();
    this.#listen?.resolve(this);
    this.#listen = undefined;
  }

  /** @internal */
  _listenFailed(code: string, message: string): void {
    this.#finish();
    this.#listen?.reject(new ListenError(code, message, this.#options.host, this.#options.port));
    this.#listen = undefined;
  }

  /** @internal */
  _closed(): void {
    this.#finish();
    this.#listen?.reject(new ClosedError("server closed before it was listening"));
    this.#listen = undefined;
  }

  /** @internal */
  _open(slot: number, opened: string, upgradeId: number): ServerWebSocket<T> {
    // "address\nsubprotocol\nurl", then one line per captureHeaders name: "=value" or "" (absent).
    const a = opened.indexOf("\n");
    const b = opened.indexOf("\n", a + 1);
    let c = opened.indexOf("\n", b + 1);
    const url = c < 0 ? opened.slice(b + 1) : opened.slice(b + 1, c);
    let headers: Record<string, string> | undefined;
    const names = this.#options.captureHeaders;
    if (names.length > 0) {
      headers = {};
      for (const name of names) {
        const end = opened.indexOf("\n", c + 1);
        const line = end < 0 ? opened.slice(c + 1) : opened.slice(c + 1, end);
        if (line.length > 0) headers[name] = line.slice(1);
        c = end;
      }
    }
    let address = opened.slice(0, a);
    // Sockets from one address (a proxy, a NAT, a load test) share one string: 10k idle
    // connections from one proxy would otherwise keep 10k copies of it.
    if (address === this.#lastAddress) address = this.#lastAddress;
    else this.#lastAddress = address;
    const ws = new ServerWebSocket<T>(new SocketCore(this.#reactor, slot, true), this.#host, address, opened.slice(a + 1, b), url, headers);
    const peer = this.#takePeer(slot, false);
    if (peer) ws._setPeerCertificate(peer);
    if (upgradeId !== 0 && this.#upgradeData.has(upgradeId)) {
      ws.data = this.#upgradeData.get(upgradeId)!;
      this.#upgradeData.delete(upgradeId);
    }
    this.#connections++;
    this.#sockets.add(ws);
    try {
      this.#handlers.open?.(ws);
    } catch (err) {
      reportUncaught(err);
    }
    return ws;
  }

  /** @internal An upgrade request parked natively until we decide. */
  _upgrade(upgradeId: number, bytes: Buffer, attachId = 0): void {
    const httpRequest = attachId === 0 ? undefined : this.#handedOver.get(attachId);
    if (httpRequest) this.#handedOver.delete(attachId);
    const request = decodeUpgradeRequest(bytes, httpRequest, this.#takePeer(upgradeId, true));
    const filter = this.#options.pathFilter;
    const hook = this.#handlers.upgrade;
    let result: unknown;
    try {
      if (filter && filter(request.path) !== true) {
        this.#decide(upgradeId, { status: 404 }, request);
        return;
      }
      result = hook ? hook(request) : undefined;
    } catch (err) {
      this.#hookFailed(upgradeId, err);
      return;
    }
    if (result instanceof Promise || (typeof result === "object" && result !== null && typeof (result as { then?: unknown }).then === "function")) {
      (result as Promise<unknown>).then(
        (value) => this.#decide(upgradeId, value, request),
        (err: unknown) => this.#hookFailed(upgradeId, err),
      );
    } else {
      this.#decide(upgradeId, result, request);
    }
  }

  /** @internal A plain HTTP request for the `http` handler. */
  _httpRequest(requestId: number, bytes: Buffer): void {
    const { method, url, path, headers, remoteAddress } = decodeUpgradeRequest(bytes);
    const request = Object.freeze({ method, url, path, headers, remoteAddress });
    const isWebSocketPath = this._wantsPath(path);
    const answer = (result: unknown): void => {
      if (this.#state === "closed") return;
      let response: Buffer;
      try {
        response = httpResponse(result, method, isWebSocketPath);
      } catch (err) {
        this.#hookFailed(requestId, err);
        return;
      }
      this.#reactor.native.upgradeReject(this.#id, requestId, response);
    };
    let result: unknown;
    try {
      result = this.#handlers.http!(request);
    } catch (err) {
      this.#hookFailed(requestId, err);
      return;
    }
    if (result instanceof Promise) result.then(answer, (err: unknown) => this.#hookFailed(requestId, err));
    else answer(result);
  }

  /** @internal */
  _upgradeGone(upgradeId: number): void {
    this.#upgradeData.delete(upgradeId);
  }

  #decide(upgradeId: number, result: unknown, request: ReturnType<typeof decodeUpgradeRequest>): void {
    let decision;
    try {
      decision = resolveDecision<T>(result, request);
    } catch (err) {
      this.#hookFailed(upgradeId, err);
      return;
    }
    if (this.#state === "closed") return;
    if (decision.accept) {
      if (decision.data !== undefined) this.#upgradeData.set(upgradeId, decision.data);
      this.#reactor.native.upgradeAccept(this.#id, upgradeId, decision.protocol, decision.headerLines);
    } else {
      this.#reactor.native.upgradeReject(this.#id, upgradeId, decision.response);
    }
  }

  // A throwing hook must not take the process down: the client gets 500, the error a warning.
  #hookFailed(upgradeId: number, err: unknown): void {
    if (this.#state !== "closed") this.#reactor.native.upgradeReject(this.#id, upgradeId, rejectResponse(500));
    process.emitWarning(err instanceof Error ? err : String(err), { type: "LwsnodeUpgradeWarning", code: "ERR_UPGRADE_HANDLER" });
  }

  #finish(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#reactor.native.closePublishers(this.#id);
    for (const request of this.#tlsRequests.values()) request.reject(new ClosedError("the server closed before setTls was applied"));
    this.#tlsRequests.clear();
    this.#syncHold();
    this.#reactor.remove(this.#id);
    // The bridge's connections go too, so a process whose servers are closed exits by itself.
    this.#bridgeClosed = this.#bridge ? this.#bridge.close().catch(() => {}) : Promise.resolve();
    void this.#bridgeClosed.then(() => this.#resolveClosed?.());
  }

  // Keep the reactor's event loop reference while events matter to this server: during start
  // and close always, while listening only if ref'd.
  #syncHold(): void {
    const want =
      this.#state === "starting" || this.#state === "closing" || (this.#state === "listening" && this.#refed);
    if (want && !this.#holding) this.#reactor.hold();
    else if (!want && this.#holding) this.#reactor.unhold();
    this.#holding = want;
  }
}

function nativeTls(tls: ResolvedTls): NativeTlsOptions {
  return {
    tlsCert: tls.cert,
    tlsKey: tls.key,
    tlsChain: tls.chain,
    tlsSni: tls.sni,
    tlsClientCa: tls.clientCa,
    tlsRequestCert: tls.requestCert,
    tlsRejectUnauthorized: tls.rejectUnauthorized,
    tlsMinVersion: tls.minVersion,
    tlsCiphers: tls.ciphers,
    tlsCiphersuites: tls.ciphersuites,
  };
}

/**
 * Starts a WebSocket server on this environment's I/O thread.
 *
 * ```ts
 * const server = await createServer({
 *   port: 0,
 *   message(ws, data, isBinary) { ws.send(data, isBinary); },
 * });
 * console.log(server.port);
 * ```
 *
 * @returns a promise for the server, resolved once it listens.
 * @throws (rejects with) `TypeError`/`RangeError` for invalid options, `TlsConfigError` for a
 *   certificate or key that cannot be used, {@link ListenError} (`code` `EADDRINUSE`, `EACCES`,
 *   …, or the DNS error such as `ENOTFOUND` for a `host` that does not resolve) when it cannot
 *   listen.
 */
export async function createServer<T = unknown>(options: ServerOptions<T> = {}): Promise<Server<T>> {
  const resolved = resolveServerOptions(options);
  if (resolved.attach === undefined && resolved.host !== "") {
    const name = resolved.host;
    const answer = resolveHost(name);
    const address = typeof answer === "string" ? answer : await answer;
    // A host that does not resolve cannot be listened on: a ListenError with the DNS code.
    if (typeof address !== "string") {
      throw new ListenError(address.code, `cannot listen on ${name}: it does not resolve (${address.code})`, name, resolved.port, { cause: address.cause });
    }
    resolved.host = address;
  }
  const tls = resolved.tls === undefined ? undefined : await resolveTls(resolved.tls);
  return new Server<T>(resolved, tls)._start();
}
