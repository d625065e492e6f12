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

interface Pending {
  channel: string;
  payload: Buffer;
}

export class RedisAdapter implements PubSubAdapter {
  #pub: RedisClient;
  #sub?: RedisClient;
  #channels = new Set<string>();
  #buffer: Pending[] = [];
  #bufferedBytes = 0;
  #maxBuffered: number;
  #maxBufferedBytes: number;
  #published = 0;
  #dropped = 0;
  #dropReport = 0; // drops not yet reported in an event
  #closed = false;
  #attempts = 0;
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
    this.#pub = new Redis(options.redis, { ...common, connectionName: "lwsnode-pub" });
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

  publish(channel: string, payload: Buffer): void {
    if (this.#closed) return this.#drop(1);
    if (this.#buffer.length === 0 && this.#pub.status === "ready") return this.#send(channel, payload);
    if (this.#buffer.length >= this.#maxBuffered || this.#bufferedBytes + payload.length > this.#maxBufferedBytes) {
      return this.#drop(1);
    }
    this.#buffer.push({ channel, payload });
    this.#bufferedBytes += payload.length;
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
      buffered: this.#buffer.length,
      dropped: this.#dropped,
      received: 0,
      connected: this.#pub.status === "ready",
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#buffer.length > 0) {
      this.#drop(this.#buffer.length);
      this.#buffer = [];
      this.#bufferedBytes = 0;
    }
    this.#sub?.disconnect();
    if (this.#pub.status === "ready") {
      // QUIT is answered after every publish sent before it: what is in flight gets through.
      await this.#pub.quit().catch(() => this.#pub.disconnect());
    } else {
      this.#pub.disconnect();
    }
  }

  #send(channel: string, payload: Buffer): void {
    this.#pub.publish(channel, payload).then(
      () => void this.#published++,
      () => this.#drop(1),
    );
  }

  // Reconnected: what waited goes first, in order, before anything published from now on.
  #flush(): void {
    const waiting = this.#buffer;
    this.#buffer = [];
    this.#bufferedBytes = 0;
    for (const m of waiting) this.#send(m.channel, m.payload);
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
