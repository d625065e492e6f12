// Producer threads publish straight to a server's I/O thread: server.publisherHandle() in the
// server's thread, createPublisher(handle) in a Worker. See native/publisher.h.
import { checkTopic, sendArgs, type SendData } from "./send-args.js";
import { addon } from "./native.js";
import { TopicBridge } from "./pubsub/bridge.js";
import type { ResolvedPubSub } from "./pubsub/options.js";

/**
 * What `server.publisherHandle()` returns: plain data, to post to a `Worker` (`workerData` or
 * `postMessage`) and pass to {@link createPublisher} there.
 */
export interface PublisherHandle {
  /** Marks a publisher handle. */
  readonly kind: "lwsnode.publisher";
  /** Resolves the server's publishing door in any thread of this process. */
  readonly id: number;
  /** @internal With `pubsub`: the bridge settings and the server's origin id (hex). */
  readonly pubsub?: { readonly options: ResolvedPubSub; readonly origin: string };
}

/** Publishes to one server's subscribers from any thread of its process. */
export interface Publisher {
  /**
   * One message to every subscriber of `topic` on the server (and, when it is bridged, on
   * every server bridged with it). Copied once into a native frame and queued for the I/O
   * thread directly; the thread is woken once at the end of this JS turn. Messages from one
   * publisher arrive in the order they were published.
   *
   * @returns false once the server is closed (or the publisher is): nothing was sent. True
   *   means accepted, not that the topic had subscribers (only the server's thread knows).
   */
  publish(topic: string, data: SendData, isBinary?: boolean, compress?: boolean): boolean;
  /** One message to every open socket of the server (this server only, not bridged). */
  broadcast(data: SendData, isBinary?: boolean, compress?: boolean): boolean;
  /** True until the server or this publisher is closed. */
  readonly open: boolean;
  /**
   * Stops publishing; with a bridge, waits until what is in flight reached Redis and closes
   * its connection (a bridged publisher keeps its thread alive until then).
   */
  close(): Promise<void>;
}

interface NativePublisher {
  publish(topic: string, data: string | ArrayBufferView, binary: boolean, compress: boolean): boolean;
  broadcast(data: string | ArrayBufferView, binary: boolean, compress: boolean): boolean;
  flush(): void;
  close(): void;
  isOpen(): boolean;
}

// A producer in a tight loop still gets its messages out now and then, not only at the end of
// its turn: at most this many commands share one wakeup.
const MAX_DEFERRED = 1024;

class ThreadPublisher implements Publisher {
  #native: NativePublisher;
  #bridge?: TopicBridge;
  #deferred = 0;
  #flushScheduled = false;
  #closed = false;
  readonly #flush = (): void => {
    this.#flushScheduled = false;
    this.#deferred = 0;
    this.#native.flush();
  };

  constructor(handle: PublisherHandle) {
    const Ctor = (addon as unknown as { Publisher: new (id: number) => NativePublisher }).Publisher;
    this.#native = new Ctor(handle.id);
    if (handle.pubsub) {
      this.#bridge = new TopicBridge(handle.pubsub.options, Buffer.from(handle.pubsub.origin, "hex"));
    }
  }

  get open(): boolean {
    return !this.#closed && this.#native.isOpen();
  }

  publish(topic: string, data: SendData, isBinary: boolean = typeof data !== "string", compress: boolean = true): boolean {
    checkTopic(topic);
    const view = sendArgs("publisher.publish(topic, data, isBinary?, compress?)", data, isBinary, compress);
    if (this.#closed) return false;
    if (!this.#native.publish(topic, view, isBinary, compress)) return false;
    this.#bridge?.publish(topic, view, isBinary, compress);
    this.#deferredWake();
    return true;
  }

  broadcast(data: SendData, isBinary: boolean = typeof data !== "string", compress: boolean = true): boolean {
    const view = sendArgs("publisher.broadcast(data, isBinary?, compress?)", data, isBinary, compress);
    if (this.#closed || !this.#native.broadcast(view, isBinary, compress)) return false;
    this.#deferredWake();
    return true;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close();
    await this.#bridge?.close();
  }

  // One wakeup per JS turn (a microtask after the current job), or per MAX_DEFERRED commands.
  #deferredWake(): void {
    if (++this.#deferred >= MAX_DEFERRED) {
      this.#deferred = 0;
      this.#native.flush();
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flush);
    }
  }
}

function isHandle(value: unknown): value is PublisherHandle {
  const h = value as PublisherHandle | null;
  return typeof h === "object" && h !== null && h.kind === "lwsnode.publisher" && typeof h.id === "number";
}

/**
 * Opens a publisher from a handle made by `server.publisherHandle()`, typically in a
 * `worker_threads` Worker: its publishes go to the server's I/O thread through the same command
 * queue as the server's own, without passing through the server's JS thread (which may be busy).
 *
 * ```ts
 * // main thread
 * new Worker("./producer.js", { workerData: { feed: server.publisherHandle() } });
 * // producer.js
 * const feed = createPublisher(workerData.feed);
 * setInterval(() => feed.publish("ticks", JSON.stringify(nextTick())), 10);
 * ```
 *
 * @throws TypeError (`ERR_INVALID_ARG_TYPE`) if `handle` is not a publisher handle.
 */
export function createPublisher(handle: PublisherHandle): Publisher {
  if (!isHandle(handle)) {
    const err = new TypeError("createPublisher(handle): handle must come from server.publisherHandle()");
    (err as TypeError & { code: string }).code = "ERR_INVALID_ARG_TYPE";
    throw err;
  }
  return new ThreadPublisher(handle);
}
