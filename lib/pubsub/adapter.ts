// The broker behind topic bridging, kept small so that another broker (NATS, say) can be added
// without touching the server: the server only subscribes, unsubscribes, publishes opaque
// envelopes (see envelope.ts) and hears messages back.

/** Something the bridge reports: watch it with `pubsub.onEvent`. */
export type PubSubEvent =
  | {
      /** The Redis connection is up (again); what was buffered is being sent. */
      type: "connected";
    }
  | {
      /** The connection was lost (or could not be made); publishes are buffered meanwhile. */
      type: "disconnected";
      /** Why, when known. */
      error?: string;
    }
  | {
      /** The next reconnect attempt comes in `delay` ms (backoff). */
      type: "reconnecting";
      /** Attempts since the connection was lost, this one included. */
      attempt: number;
      /** Milliseconds until this attempt. */
      delay: number;
    }
  | {
      /** Messages were dropped: buffer full while disconnected, or in flight when the connection broke. */
      type: "dropped";
      /** Messages dropped in this burst. */
      count: number;
      /** Messages dropped since the server started (`stats().pubsubDropped`). */
      total: number;
    }
  | {
      /** The client reported an error (typically a failed connection attempt). */
      type: "error";
      /** Its message. */
      error: string;
    };

/** The bridge's counters (merged into `server.stats()` as `pubsub*`). */
export interface PubSubCounters {
  /** Messages handed to the broker (acknowledged by it). */
  published: number;
  /** Messages waiting for the broker connection to come back. */
  buffered: number;
  /** Messages lost: over the buffer bound while disconnected, or in flight when the connection broke. */
  dropped: number;
  /**
   * Of `dropped`, those sent whose answer never came (the connection broke first): Redis may
   * have delivered them before it went away. Never resent.
   */
  unconfirmed: number;
  /** Messages received from other publishers (own echoes excluded). */
  received: number;
  /** Whether the publishing connection is up now. */
  connected: boolean;
}

/** A broker connection as the bridge sees it. Implementations never throw from these calls. */
export interface PubSubAdapter {
  /** Start receiving `channel`; kept across reconnects until `unsubscribe`. */
  subscribe(channel: string): void;
  unsubscribe(channel: string): void;
  /**
   * Sends one envelope holding `count` messages; buffered while disconnected up to the bound,
   * then dropped (counted as `count` messages).
   */
  publish(channel: string, payload: Buffer, count: number): void;
  /** Every message of a subscribed channel, in the broker's order. */
  onMessage(handler: (channel: string, payload: Buffer) => void): void;
  onEvent(handler: (event: PubSubEvent) => void): void;
  counters(): PubSubCounters;
  /** Sends what is in flight if connected, drops the rest, closes every connection. */
  close(): Promise<void>;
}
