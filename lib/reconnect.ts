// The reconnect policy of a `reconnect` client: its option, which failures and closes it retries,
// and how long it waits before each attempt. ClientWebSocket runs the attempts.
import { DEFAULT_RECONNECT_MAX_DELAY, DEFAULT_RECONNECT_MIN_DELAY } from "./defaults.js";
import { invalidType, type ConnectError } from "./errors.js";
import { integer } from "./option-checks.js";

/**
 * Retry policy of {@link ConnectOptions.reconnect}. Delays grow from `minDelay` by doubling up to
 * `maxDelay`, each drawn at random between half and all of that ("equal jitter"), so many
 * clients dropped at once do not come back in step.
 */
export interface ReconnectOptions {
  /** Attempts after a failed connect or a dropped connection; the count restarts once open. */
  retries: number;
  /** ms before the first retry (upper bound; jittered). Default 250. */
  minDelay?: number;
  /** Largest delay between attempts, in ms. Default 10000. */
  maxDelay?: number;
}

/** A checked `reconnect` option (undefined: no reconnects). */
export type ReconnectPolicy = Required<ReconnectOptions> | undefined;

/** Checks the `reconnect` option of connect(), filling in the default delays. */
export function resolveReconnect(r: ReconnectOptions | undefined): ReconnectPolicy {
  if (r === undefined) return undefined;
  if (r === null || typeof r !== "object") throw invalidType("reconnect", "an object with retries", r);
  const minDelay = integer("reconnect.minDelay", r.minDelay, DEFAULT_RECONNECT_MIN_DELAY, 1, 2 ** 31 - 1);
  const reconnect = {
    retries: integer("reconnect.retries", r.retries, Number.NaN, 0, 1_000_000),
    minDelay,
    maxDelay: integer("reconnect.maxDelay", r.maxDelay, Math.max(DEFAULT_RECONNECT_MAX_DELAY, minDelay), minDelay, 2 ** 31 - 1),
  };
  if (Number.isNaN(reconnect.retries)) throw invalidType("reconnect.retries", "a number", undefined);
  return reconnect;
}

// Close codes after which a `reconnect` client reopens: the server went away or is
// temporarily unable (1001, 1011-1014) or the connection dropped (1006).
const TRANSIENT_CLOSE = new Set([1001, 1006, 1011, 1012, 1013, 1014]);

/** Whether a connection closed with `code` (not by us) is reopened. */
export function reopensAfter(policy: ReconnectPolicy, code: number): boolean {
  return policy !== undefined && policy.retries > 0 && TRANSIENT_CLOSE.has(code);
}

/**
 * Whether a connect attempt that failed with `err`, after `failures` failed attempts since the
 * last open, is tried again: only failures that may pass (refused, network, timeout, HTTP 5xx,
 * DNS `EAI_AGAIN`), never TLS, handshake or 4xx ones.
 */
export function retriesAfter(policy: ReconnectPolicy, err: ConnectError, failures: number): boolean {
  return policy !== undefined && retryable(err) && failures < policy.retries;
}

function retryable(err: ConnectError): boolean {
  switch (err.reason) {
    case "refused":
    case "network":
    case "timeout":
      return true;
    case "status":
      return err.status >= 500;
    case "dns":
      return err.code === "EAI_AGAIN";
    default:
      return false;
  }
}

/** ms to wait before attempt `failures` (1, 2, …): equal jitter below a doubling ceiling. */
export function retryDelay(policy: Required<ReconnectOptions>, failures: number): number {
  const ceiling = Math.min(policy.maxDelay, policy.minDelay * 2 ** (failures - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}
