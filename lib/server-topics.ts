// A server's topics: which of its sockets subscribe to what (mirrored in JS, so a publish counts
// in each receiver's bufferedAmount at once), the native fan-out of a publish, and, with
// `pubsub`, the Redis bridge that carries publishes to and from other servers.
import type { TopicBridge } from "./pubsub/bridge.js";
import type { Reactor } from "./reactor.js";
import { PublishStatus } from "./send-status.js";
import type { ServerWebSocket } from "./server-websocket.js";

/** The topics of server `id`; the caller checks that the server is listening. */
export class ServerTopics<T> {
  readonly #reactor: Reactor;
  readonly #id: number;
  readonly #bridge: TopicBridge | undefined;
  // topic -> subscribed sockets, mirrored in JS: publish() counts each one's bufferedAmount.
  readonly #subscribers = new Map<string, Set<ServerWebSocket<T>>>();

  constructor(reactor: Reactor, id: number, bridge: TopicBridge | undefined) {
    this.#reactor = reactor;
    this.#id = id;
    this.#bridge = bridge;
  }

  /** Sockets subscribed to `topic`. */
  count(topic: string): number {
    return this.#subscribers.get(topic)?.size ?? 0;
  }

  /** Publishes to `topic` (here and, bridged, elsewhere); `sender`: the socket publishing (it receives nothing), if any. */
  publish(topic: string, data: string | ArrayBufferView, isBinary: boolean, sender: ServerWebSocket<T> | undefined, compress: boolean): PublishStatus {
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

  /** A message another bridged server published: one native fan-out, as a local publish. */
  deliverRemote(topic: string, payload: Buffer, isBinary: boolean, compress: boolean): void {
    const subscribers = this.#subscribers.get(topic);
    if (subscribers === undefined) return;
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

  /** `ws` joined (true) or left (false) `topic`. */
  subscribed(topic: string, ws: ServerWebSocket<T>, joined: boolean): void {
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
}
