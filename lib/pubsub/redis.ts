// The Redis adapter (ioredis), loaded only when a server or publisher is bridged.
//
// Two connections: one publishes, one subscribes (a subscribed Redis connection can do nothing
// else). ioredis's own queueing and resending are switched off so that the bridge alone decides
// what happens to a message while Redis is away: buffered up to a bound, else dropped and
// counted; a publish in flight when the connection breaks fails and is counted too (never
// resent: Redis may have delivered it already). Subscriptions are re-issued by us after every
// reconnect, from the set the server wants now.
import { createRequire } from "node:module";
import { join } from "node:path";
import { packageRoot } from "../package-root.cjs";
import type { PubSubAdapter, PubSubEvent } from "./adapter.js";
import type { ResolvedPubSub } from "./options.js";

/** The slice of ioredis's client the adapter uses (ioredis's types stay out of our API). */
interface RedisClient {
  readonly status: string;
  publish(channel: string, message: Buffer): Promise<number>;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
  on(event: string, listener: (...args: never[]) => void): unknown;
}
type RedisConstructor = new (url: string, options: Record<string, unknown>) => RedisClient;

/** The Redis client package is missing (`npm install ioredis`). */
export class PubSubClientMissingError extends Error {
  /** Always `ERR_PUBSUB_CLIENT_MISSING`. */
  readonly code = "ERR_PUBSUB_CLIENT_MISSING";
  constructor(cause: unknown) {
    super("the pubsub option needs the ioredis package: npm install ioredis", { cause });
    this.name = "PubSubClientMissingError";
  }
}

function loadIoredis(): RedisConstructor {
  // Resolved from lwsnode's own location, so the application's node_modules are searched.
  const require = createRequire(join(packageRoot, "package.json"));
  try {
    const m = require("ioredis") as { default?: RedisConstructor; Redis?: RedisConstructor };
    return (m.Redis ?? m.default ?? m) as RedisConstructor;
  } catch (err) {
    if ((err as { code?: string }).code === "MODULE_NOT_FOUND") throw new PubSubClientMissingError(err);
    throw err;
  }
}

// close() with messages buffered while the connection is still being made waits this long.
const CLOSE_CONNECT_WAIT_MS = 2000;

interface Pending {
  channel: string;
  payload: Buffer;
  count: number; // messages in the envelope
}

export class RedisAdapter implements PubSubAdapter {
  #pub: RedisClient;
  #sub?: RedisClient;
  #channels = new Set<string>();
  #buffer: Pending[] = [];
  #bufferedBytes = 0;
  #bufferedCount = 0;
  #maxBuffered: number;
  #maxBufferedBytes: number;
  #published = 0;
  #dropped = 0;
  #unconfirmed = 0; // of #dropped: sent, but the connection broke before Redis answered
  #dropReport = 0; // drops not yet reported in an event
  #closed = false;
  #attempts = 0;
  #inflight = 0; // publishes sent, not yet answered
  #settled?: () => void; // close() waits for #inflight to reach 0
  #onMessage?: (channel: string, payload: Buffer) => void;
  #onEvent?: (event: PubSubEvent) => void;

  /** `subscriber`: also open the receiving connection (a producer thread only publishes). */
  constructor(options: ResolvedPubSub, subscriber: boolean) {
    const Redis = loadIoredis();
    this.#maxBuffered = options.maxBuffered;
    this.#maxBufferedBytes = options.maxBufferedBytes;
    const { minDelay, maxDelay } = options;
    const common = {
      ...options.redisOptions,
      enableOfflineQueue: false, // while down, the bridge's bounded buffer holds messages
      maxRetriesPerRequest: 0, // a connection loss fails what is in flight (counted, never resent)
      autoResendUnfulfilledCommands: false,
      autoResubscribe: false, // we resubscribe from the current wanted set
      retryStrategy: (times: number) => Math.min(minDelay * 2 ** Math.min(times - 1, 20), maxDelay),
    };
    // Auto-pipelining: the publishes of one JS turn leave in one write, not one syscall each.
    this.#pub = new Redis(options.redis, { ...common, enableAutoPipelining: true, connectionName: "lwsnode-pub" });
    this.#pub.on("ready", () => {
      this.#attempts = 0;
      this.#emit({ type: "connected" });
      this.#flush();
    });
    this.#pub.on("close", () => {
      if (!this.#closed) this.#emit({ type: "disconnected" });
    });
    this.#pub.on("reconnecting", (delay: number) => {
      if (!this.#closed) this.#emit({ type: "reconnecting", attempt: ++this.#attempts, delay });
    });
    this.#pub.on("error", (err: Error) => {
      if (!this.#closed) this.#emit({ type: "error", error: err.message });
    });
    if (subscriber) {
      const sub = new Redis(options.redis, { ...common, connectionName: "lwsnode-sub" });
      this.#sub = sub;
      sub.on("ready", () => {
        if (this.#channels.size > 0) sub.subscribe(...this.#channels).catch(() => {}); // redone on the next ready
      });
      sub.on("messageBuffer", (channel: Buffer, message: Buffer) => this.#onMessage?.(channel.toString(), message));
      sub.on("error", () => {}); // reported through the publishing connection's events
    }
  }

  subscribe(channel: string): void {
    if (this.#closed || this.#channels.has(channel)) return;
    this.#channels.add(channel);
    if (this.#sub?.status === "ready") this.#sub.subscribe(channel).catch(() => {});
  }

  unsubscribe(channel: string): void {
    if (!this.#channels.delete(channel)) return;
    if (!this.#closed && this.#sub?.status === "ready") this.#sub.unsubscribe(channel).catch(() => {});
  }

  publish(channel: string, payload: Buffer, count: number): void {
    if (this.#closed) return this.#drop(count);
    if (this.#buffer.length === 0 && this.#pub.status === "ready") return this.#send(channel, payload, count);
    if (this.#bufferedCount + count > this.#maxBuffered || this.#bufferedBytes + payload.length > this.#maxBufferedBytes) {
      return this.#drop(count);
    }
    this.#buffer.push({ channel, payload, count });
    this.#bufferedBytes += payload.length;
    this.#bufferedCount += count;
  }

  onMessage(handler: (channel: string, payload: Buffer) => void): void {
    this.#onMessage = handler;
  }

  onEvent(handler: (event: PubSubEvent) => void): void {
    this.#onEvent = handler;
  }

  counters() {
    return {
      published: this.#published,
      buffered: this.#bufferedCount,
      dropped: this.#dropped,
      unconfirmed: this.#unconfirmed,
      received: 0,
      connected: this.#pub.status === "ready",
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#buffer.length > 0 && this.#pub.status !== "ready" && this.#pub.status !== "end") {
      // Still connecting (a fresh worker publisher, say): give the buffer a short chance to go.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLOSE_CONNECT_WAIT_MS);
        this.#pub.on("ready", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    if (this.#buffer.length > 0) {
      this.#drop(this.#bufferedCount);
      this.#buffer = [];
      this.#bufferedBytes = 0;
      this.#bufferedCount = 0;
    }
    this.#sub?.disconnect();
    if (this.#inflight > 0) {
      // Auto-pipelined publishes may not be written yet: QUIT must not overtake them. Each one
      // settles (answered, or failed with its connection), so this wait ends.
      await new Promise<void>((resolve) => (this.#settled = resolve));
    }
    if (this.#pub.status === "ready") {
      // QUIT is answered after every publish sent before it: what is in flight gets through.
      await this.#pub.quit().catch(() => this.#pub.disconnect());
    } else {
      this.#pub.disconnect();
    }
  }

  #send(channel: string, payload: Buffer, count: number): void {
    this.#inflight++;
    this.#pub
      .publish(channel, payload)
      .then(
        () => void (this.#published += count),
        () => {
          this.#unconfirmed += count;
          this.#drop(count);
        },
      )
      .finally(() => {
        if (--this.#inflight === 0) this.#settled?.();
      });
  }

  // Reconnected: what waited goes first, in order, before anything published from now on.
  #flush(): void {
    const waiting = this.#buffer;
    this.#buffer = [];
    this.#bufferedBytes = 0;
    this.#bufferedCount = 0;
    for (const m of waiting) this.#send(m.channel, m.payload, m.count);
  }

  #drop(n: number): void {
    this.#dropped += n;
    if (this.#dropReport === 0) {
      // One event per burst of drops, not one per message.
      queueMicrotask(() => {
        const count = this.#dropReport;
        this.#dropReport = 0;
        this.#emit({ type: "dropped", count, total: this.#dropped });
      });
    }
    this.#dropReport += n;
  }

  #emit(event: PubSubEvent): void {
    this.#onEvent?.(event);
  }
}
