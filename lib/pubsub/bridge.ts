// A server's (or a producer thread's) link to the broker: topics become channels, messages
// become envelopes, and the server's own echoes are skipped.
//
// Exactly once per subscriber: a publish is delivered to local subscribers at once, natively,
// and sent to the broker with this server's origin id; when the broker hands it back, the
// origin matches and it is skipped. Other servers deliver it once, from the broker. (Delivering
// only what comes back from the broker would also be exactly-once, but local subscribers would
// then wait a round trip, see nothing while the broker is down, and `ws.publish` could no longer
// skip its sender.) Order: a publisher's messages leave on one connection, and Redis keeps a
// connection's order to every subscriber.
//
// Batching: consecutive publishes to one topic within a JS turn share one envelope (one Redis
// PUBLISH), sent at the end of the turn or when the topic changes (so order across topics is
// kept too) or the envelope is full. Counters still count messages.
import type { PubSubAdapter, PubSubCounters, PubSubEvent } from "./adapter.js";
import { decode, EnvelopeBuilder } from "./envelope.js";
import type { ResolvedPubSub } from "./options.js";
import { RedisAdapter } from "./redis.js";

/** Delivers a message from another server to this server's subscribers of `topic`. */
export type Deliver = (topic: string, payload: Buffer, isBinary: boolean, compress: boolean) => void;

// An envelope is sent once it holds this much, even within one turn.
const MAX_BATCH_BYTES = 256 * 1024;
const MAX_BATCH_MESSAGES = 1024;

export class TopicBridge {
  #adapter: PubSubAdapter;
  #prefix: string;
  #origin: Buffer;
  #received = 0;
  #batch?: EnvelopeBuilder;
  #batchTopic = "";
  readonly #flush = (): void => this.#send();

  /** Without `deliver`, the bridge only publishes (a producer thread's). */
  constructor(options: ResolvedPubSub, origin: Buffer, deliver?: Deliver, adapter?: PubSubAdapter) {
    this.#prefix = options.prefix;
    this.#origin = origin;
    this.#adapter = adapter ?? new RedisAdapter(options, deliver !== undefined);
    this.#adapter.onEvent(options.onEvent ?? warnOncePerOutage());
    if (deliver) {
      const prefix = this.#prefix;
      this.#adapter.onMessage((channel, message) => {
        if (!channel.startsWith(prefix)) return;
        const messages = decode(message, origin);
        if (messages === undefined || messages === "own") return;
        const topic = channel.slice(prefix.length);
        this.#received += messages.length;
        for (const m of messages) deliver(topic, m.payload, m.isBinary, m.compress);
      });
    }
  }

  /** The first local socket subscribed to `topic`. */
  join(topic: string): void {
    this.#adapter.subscribe(this.#prefix + topic);
  }

  /** The last local socket left `topic`. */
  leave(topic: string): void {
    this.#adapter.unsubscribe(this.#prefix + topic);
  }

  publish(topic: string, data: string | ArrayBufferView, isBinary: boolean, compress: boolean): void {
    if (this.#batch && this.#batchTopic !== topic) this.#send();
    if (!this.#batch) {
      this.#batch = new EnvelopeBuilder(this.#origin);
      this.#batchTopic = topic;
      queueMicrotask(this.#flush);
    }
    this.#batch.add(data, isBinary, compress);
    if (this.#batch.bytes >= MAX_BATCH_BYTES || this.#batch.count >= MAX_BATCH_MESSAGES) this.#send();
  }

  counters(): PubSubCounters {
    const c = this.#adapter.counters();
    return { ...c, buffered: c.buffered + (this.#batch?.count ?? 0), received: this.#received };
  }

  close(): Promise<void> {
    this.#send();
    return this.#adapter.close();
  }

  #send(): void {
    const batch = this.#batch;
    if (!batch) return;
    this.#batch = undefined;
    this.#adapter.publish(this.#prefix + this.#batchTopic, batch.finish(), batch.count);
  }
}

// The default watcher: one warning when the connection goes, one per outage when messages drop.
function warnOncePerOutage(): (event: PubSubEvent) => void {
  let down = false;
  let droppedWarned = false;
  return (event) => {
    if (event.type === "connected") {
      down = false;
      droppedWarned = false;
    } else if (event.type === "disconnected" && !down) {
      down = true;
      process.emitWarning("pubsub: lost the Redis connection; buffering publishes and reconnecting", { type: "LwsnodePubSubWarning", code: "ERR_PUBSUB_DISCONNECTED" });
    } else if (event.type === "dropped" && !droppedWarned) {
      droppedWarned = true;
      process.emitWarning(`pubsub: ${event.total} message(s) dropped so far (Redis unreachable or buffer full); see server.stats().pubsubDropped`, { type: "LwsnodePubSubWarning", code: "ERR_PUBSUB_DROPPED" });
    }
  };
}
