// createServer() and the Server it resolves to: listening, closing, the process hold, and the
// sockets it opens. Its parts live beside it: server-upgrade.ts (handshakes decided in JS),
// server-topics.ts (publish and the Redis bridge), server-tls.ts (setTls, client certificates),
// server-stats.ts (stats()), attach.ts (sharing a node:http server's port).
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { attach, detach } from "./attach.js";
import { ClosedError, invalidType, ListenError, withCode } from "./errors.js";
import type { PublisherHandle } from "./publisher.js";
import { TopicBridge } from "./pubsub/bridge.js";
import { newOrigin } from "./pubsub/envelope.js";
import { portablePubSub } from "./pubsub/options.js";
import { currentReactor, reportUncaught, type Endpoint, type Reactor } from "./reactor.js";
import { resolveHost } from "./resolve-host.js";
import { checkTopic, sendArgs, type SendData } from "./send-args.js";
import { PublishStatus } from "./send-status.js";
import { resolveServerOptions, type ResolvedServerOptions, type ServerHandlers, type ServerOptions } from "./server-options.js";
import { serverStats, type ServerStats } from "./server-stats.js";
import { nativeTls, ServerTls } from "./server-tls.js";
import { ServerTopics } from "./server-topics.js";
import { ServerUpgrades } from "./server-upgrade.js";
import { ServerWebSocket, type SocketHost } from "./server-websocket.js";
import { SocketCore } from "./socket-core.js";
import { type ResolvedTls, resolveTls, type TlsOptions } from "./tls-options.js";

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
  #sockets = new Set<ServerWebSocket<T>>(); // open sockets, for broadcast()'s accounting
  #listen?: { resolve(server: Server<T>): void; reject(err: Error): void };
  #closed?: Promise<void>;
  #resolveClosed?: () => void;

  #tls?: ResolvedTls; // until listen() hands it to the native side
  #isTls: boolean;
  #tlsState: ServerTls;
  #upgrades: ServerUpgrades<T>;
  #topics: ServerTopics<T>;
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
      this.#bridge = new TopicBridge(options.pubsub, this.#origin, (topic, payload, isBinary, compress) => {
        if (this.#state === "listening") this.#topics.deliverRemote(topic, payload, isBinary, compress);
      });
    }
    this.#reactor = currentReactor();
    this.#id = this.#reactor.add(this);
    this.#tlsState = new ServerTls(this.#reactor.native, this.#id);
    this.#upgrades = new ServerUpgrades(this.#reactor.native, this.#id, options, () => this.#state === "closed");
    const topics = new ServerTopics<T>(this.#reactor, this.#id, this.#bridge);
    this.#topics = topics;
    const handlers = this.#handlers;
    // All a socket may reach of its server (see SocketHost): no socket sees the rest.
    this.#host = {
      maxBackpressure: options.maxBackpressure,
      closeOnBackpressureLimit: options.closeOnBackpressureLimit,
      droppedSend: () => {
        this.#droppedSends++;
      },
      join: (topic, ws) => topics.join(topic, ws),
      leave: (topic, ws) => topics.leave(topic, ws),
      publish: (topic, data, isBinary, sender, compress) =>
        this.#state === "listening" ? topics.publish(topic, data, isBinary, sender, compress) : PublishStatus.NOT_PUBLISHED,
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
    this.#upgrades.handOver(req, socket, head);
  }

  /** @internal Whether an upgrade to `path` is this server's (attached). */
  _wantsPath(path: string): boolean {
    return this.#upgrades.wantsPath(path);
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
    if (this.#state !== "listening") return PublishStatus.NOT_PUBLISHED;
    return this.#topics.publish(topic, bytes, isBinary, undefined, compress);
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
    return this.#topics.count(topic);
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
    return serverStats(this.#stats, this.#droppedSends, this.#bridge?.counters());
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
      this.#topics.listening(this.#stats);
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
    return this.#tlsState.replace(resolved);
  }

  /** @internal */
  _tlsApplied(seq: number, error: string): void {
    this.#tlsState.applied(seq, error);
  }

  /** @internal */
  _peerCert(id: number, forUpgrade: boolean, bytes: Buffer): void {
    this.#tlsState.peerCert(id, forUpgrade, bytes);
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
    const ws = new ServerWebSocket<T>(new SocketCore(this.#reactor, slot), this.#host, address, opened.slice(a + 1, b), url, headers);
    const peer = this.#tlsState.takePeer(slot, false);
    if (peer) ws._setPeerCertificate(peer);
    this.#upgrades.giveData(upgradeId, ws);
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
    this.#upgrades.upgrade(upgradeId, bytes, attachId, this.#tlsState.takePeer(upgradeId, true));
  }

  /** @internal A plain HTTP request for the `http` handler. */
  _httpRequest(requestId: number, bytes: Buffer): void {
    this.#upgrades.httpRequest(requestId, bytes);
  }

  /** @internal */
  _upgradeGone(upgradeId: number): void {
    this.#upgrades.gone(upgradeId);
  }

  #finish(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#reactor.native.closePublishers(this.#id);
    this.#tlsState.closed();
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
