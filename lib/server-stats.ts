// server.stats(): the native counters the I/O thread keeps in memory shared with JS, plus the
// JS-side ones (dropped sends, the Redis bridge's).
import type { PubSubCounters } from "./pubsub/adapter.js";

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
/** What fan-outs counted natively (broadcasts, other threads' publishes) added to any one socket, in total. */
export const STAT_NATIVE_COUNTED = 9;

/**
 * A snapshot of the counters: `live` is the server's shared native block (undefined before it
 * listens), `droppedSends` the sends JS dropped, `pubsub` the bridge's counters if it has one.
 */
export function serverStats(live: Float64Array | undefined, droppedSends: number, pubsub: PubSubCounters | undefined): ServerStats {
  const local = nativeStats(live, droppedSends);
  if (!pubsub) return local;
  const b = pubsub;
  return { ...local, pubsubPublished: b.published, pubsubBuffered: b.buffered, pubsubDropped: b.dropped, pubsubUnconfirmed: b.unconfirmed, pubsubReceived: b.received, pubsubConnected: b.connected };
}

function nativeStats(v: Float64Array | undefined, droppedSends: number): ServerStats {
  if (!v) {
    return { connections: 0, connectionsTotal: 0, rejected: 0, messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0, queuedBytes: 0, dropped: droppedSends };
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
    dropped: v[STAT_DROPPED]! + droppedSends,
  };
}
