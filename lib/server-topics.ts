// A server's topics: which of its sockets subscribe to what (mirrored in JS, so a publish counts
// in each receiver's bufferedAmount at once, through its topic's account), the native fan-out
// of a publish, and, with `pubsub`, the Redis bridge that carries publishes to and from other
// servers.
import type { TopicBridge } from "./pubsub/bridge.js";
import type { Reactor } from "./reactor.js";
import { PublishStatus } from "./send-status.js";
import type { ServerWebSocket } from "./server-websocket.js";
import { STAT_NATIVE_COUNTED } from "./server-stats.js";
import { TopicAccount, type Subscription } from "./topic-account.js";

/** The topics of server `id`; the caller checks that the server is listening. */
export class ServerTopics<T> {
  readonly #reactor: Reactor;
  readonly #id: number;
  readonly #bridge: TopicBridge | undefined;
  // topic -> its account and subscribers, mirrored in JS: publish() counts every receiver's
  // bufferedAmount through it, with no per-receiver work.
  readonly #topics = new Map<string, TopicAccount<ServerWebSocket<T>>>();
  #published = 0; // bytes of every publish of this server so far (see TopicAccount.pressured)
  #live: Float64Array | undefined; // the native counters: what broadcasts added, per socket

  constructor(reactor: Reactor, id: number, bridge: TopicBridge | undefined) {
    this.#reactor = reactor;
    this.#id = id;
    this.#bridge = bridge;
  }

  /** The server listens: `live` is its shared native counters. */
  listening(live: Float64Array): void {
    this.#live = live;
  }

  /** Sockets subscribed to `topic`. */
  count(topic: string): number {
    return this.#topics.get(topic)?.members.size ?? 0;
  }

  /** Publishes to `topic` (here and, bridged, elsewhere); `sender`: the socket publishing (it receives nothing), if any. */
  publish(topic: string, data: string | ArrayBufferView, isBinary: boolean, sender: ServerWebSocket<T> | undefined, compress: boolean): PublishStatus {
    const account = this.#topics.get(topic);
    let status: PublishStatus = PublishStatus.NOT_PUBLISHED;
    if (account !== undefined && !(account.members.size === 1 && sender !== undefined && account.members.has(sender))) {
      const bytes = this.#reactor.native.publish(this.#id, topic, data, isBinary, sender?._slot ?? -1, compress);
      this.#reactor.cork();
      status = this.#account(account, bytes, sender);
    }
    if (!this.#bridge) return status;
    this.#bridge.publish(topic, data, isBinary, compress); // other servers (our echo is skipped)
    return status === PublishStatus.NOT_PUBLISHED ? PublishStatus.SUCCESS : status;
  }

  /** A message another bridged server published: one native fan-out, as a local publish. */
  deliverRemote(topic: string, payload: Buffer, isBinary: boolean, compress: boolean): void {
    const account = this.#topics.get(topic);
    if (account === undefined) return;
    const bytes = this.#reactor.native.publish(this.#id, topic, payload, isBinary, -1, compress);
    this.#reactor.cork(); // one wakeup for every message of this turn
    this.#account(account, bytes, undefined);
  }

  // Every receiver's bufferedAmount counts the message from now on (the fan-out on the I/O
  // thread comes later, in command order): the topic's total grows, the sender's share is
  // settled as if received. Receivers it leaves at the high-water mark or above get a drain
  // watch, queued after the message.
  #account(account: TopicAccount<ServerWebSocket<T>>, bytes: number, sender: ServerWebSocket<T> | undefined): PublishStatus {
    account.published += bytes;
    if (sender !== undefined) {
      const own = account.members.get(sender);
      if (own !== undefined) own.base += bytes;
    }
    this.#published += bytes;
    const grown = this.#published + (this.#live?.[STAT_NATIVE_COUNTED] ?? 0);
    return account.pressured(grown, sender) ? PublishStatus.BACKPRESSURE : PublishStatus.SUCCESS;
  }

  /**
   * `ws` joins `topic`: its subscription (whose backlog starts at 0). The caller keeps it and
   * settles it before it leaves.
   */
  join(topic: string, ws: ServerWebSocket<T>): Subscription<ServerWebSocket<T>> {
    let account = this.#topics.get(topic);
    if (account === undefined) this.#topics.set(topic, (account = new TopicAccount()));
    const sub = account.join(ws);
    // The Redis channel follows local membership: joined by the first socket, left by the last.
    if (account.members.size === 1) this.#bridge?.join(topic);
    return sub;
  }

  /** `ws` leaves `topic` (its backlog from it already settled). */
  leave(topic: string, ws: ServerWebSocket<T>): void {
    const account = this.#topics.get(topic);
    if (account === undefined) return;
    account.leave(ws);
    if (account.members.size === 0) {
      this.#topics.delete(topic);
      this.#bridge?.leave(topic);
    }
  }
}
