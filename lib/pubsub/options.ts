// The `pubsub` option of createServer(): which broker bridges this server's topics.
import {
  DEFAULT_PUBSUB_MAX_BUFFERED,
  DEFAULT_PUBSUB_MAX_BUFFERED_BYTES,
  DEFAULT_PUBSUB_MAX_DELAY,
  DEFAULT_PUBSUB_MIN_DELAY,
  DEFAULT_PUBSUB_PREFIX,
} from "../defaults.js";
import { invalidType } from "../errors.js";
import { integer } from "../option-checks.js";
import type { PubSubEvent } from "./adapter.js";

/**
 * Bridges topics through Redis pub/sub, so that a publish on any server bridged to the same
 * Redis reaches the topic's subscribers on all of them. Needs the `ioredis` package (an
 * optional peer dependency: `npm install ioredis`).
 */
export interface PubSubOptions {
  /**
   * Redis URL: `redis://[user:password@]host:port[/db]`, or `rediss://…` for TLS.
   */
  redis: string;
  /**
   * Further ioredis connection options (for instance `tls: { ca }`, `username`, `password`,
   * `db`). Passed to ioredis as they are, except the ones the bridge owns (reconnection and
   * queueing). With `publisherHandle()` they travel to workers, so keep them plain data.
   */
  redisOptions?: Record<string, unknown>;
  /** Channel name prefix: topic `t` is channel `prefix + t`. Default `"lwsnode:"`. */
  prefix?: string;
  /** Messages held while Redis is unreachable; further ones are dropped (counted). Default 10,000. */
  maxBuffered?: number;
  /** Bytes held while Redis is unreachable; beyond it messages are dropped (counted). Default 16 MiB. */
  maxBufferedBytes?: number;
  /** Reconnect backoff in ms: `minDelay`, doubling up to `maxDelay`. Default 100 and 5000. */
  retry?: {
    /** First delay, in ms. Default 100. */
    minDelay?: number;
    /** Largest delay, in ms. Default 5000. */
    maxDelay?: number;
  };
  /**
   * Connection changes and losses. Without it, a lost connection and dropped messages are
   * reported once per outage with `process.emitWarning` (type `LwsnodePubSubWarning`).
   */
  onEvent?: (event: PubSubEvent) => void;
}

/** The options after validation; all but `onEvent` is plain data (it may be posted to a Worker). */
export interface ResolvedPubSub {
  redis: string;
  redisOptions: Record<string, unknown>;
  prefix: string;
  maxBuffered: number;
  maxBufferedBytes: number;
  minDelay: number;
  maxDelay: number;
  onEvent?: (event: PubSubEvent) => void;
}

const KNOWN = new Set(["redis", "redisOptions", "prefix", "maxBuffered", "maxBufferedBytes", "retry", "onEvent"]);

/** Checks the `pubsub` option; undefined when it is absent. */
export function resolvePubSub(value: unknown): ResolvedPubSub | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== "object") throw invalidType("pubsub", "an object", value);
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key)) throw invalidType(`pubsub.${key}`, `one of ${[...KNOWN].join(", ")}`, key);
  }
  if (typeof o.redis !== "string" || !/^rediss?:\/\//.test(o.redis)) {
    throw invalidType("pubsub.redis", "a redis:// or rediss:// URL", o.redis);
  }
  const redisOptions = o.redisOptions ?? {};
  if (redisOptions === null || typeof redisOptions !== "object") throw invalidType("pubsub.redisOptions", "an object", redisOptions);
  const prefix = o.prefix ?? DEFAULT_PUBSUB_PREFIX;
  if (typeof prefix !== "string") throw invalidType("pubsub.prefix", "a string", prefix);
  const retry = (o.retry ?? {}) as Record<string, unknown>;
  if (retry === null || typeof retry !== "object") throw invalidType("pubsub.retry", "an object", retry);
  const minDelay = integer("pubsub.retry.minDelay", retry.minDelay, DEFAULT_PUBSUB_MIN_DELAY, 1, 600_000);
  const maxDelay = integer("pubsub.retry.maxDelay", retry.maxDelay, Math.max(DEFAULT_PUBSUB_MAX_DELAY, minDelay), minDelay, 600_000);
  if (o.onEvent !== undefined && typeof o.onEvent !== "function") throw invalidType("pubsub.onEvent", "a function", o.onEvent);
  return {
    redis: o.redis,
    redisOptions: redisOptions as Record<string, unknown>,
    prefix,
    maxBuffered: integer("pubsub.maxBuffered", o.maxBuffered, DEFAULT_PUBSUB_MAX_BUFFERED, 0, 2 ** 31 - 1),
    maxBufferedBytes: integer("pubsub.maxBufferedBytes", o.maxBufferedBytes, DEFAULT_PUBSUB_MAX_BUFFERED_BYTES, 0, Number.MAX_SAFE_INTEGER),
    minDelay,
    maxDelay,
    ...(o.onEvent ? { onEvent: o.onEvent as (event: PubSubEvent) => void } : {}),
  };
}

/** The part of the options a Worker can receive (functions cannot be posted). */
export function portablePubSub(p: ResolvedPubSub): ResolvedPubSub {
  const { onEvent: _onEvent, ...rest } = p;
  return rest;
}
