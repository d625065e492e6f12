// Where libwebsockets' own log lines go: to a function you choose, never to stderr. Silent by
// default. One logger per JS environment (main thread or worker), used by every server there.
import { invalidType } from "./errors.js";

/** The lws log levels a release build emits. */
export type LogLevel = "error" | "warn" | "notice" | "user";

/** Receives one lws log line (without its trailing newline), on the JS thread. */
export type Logger = (level: LogLevel, message: string) => void;

// LLL_* bits of libwebsockets' lws-logs.h.
const LEVEL_BITS: Record<LogLevel, number> = { error: 1, warn: 2, notice: 4, user: 1024 };

let logger: Logger | undefined;
let mask = 0;
const listeners = new Set<(mask: number) => void>();

/**
 * Routes libwebsockets' log lines of the given levels to `fn` (or, with `null`, silences them
 * again). Applies to the servers running now and to those started later.
 *
 * ```ts
 * setLogger((level, message) => console.error(`[lws ${level}] ${message}`), ["error", "warn"]);
 * ```
 */
export function setLogger(fn: Logger | null, levels: readonly LogLevel[] = ["error", "warn"]): void {
  if (fn !== null && typeof fn !== "function") throw invalidType("logger", "a function or null", fn);
  if (!Array.isArray(levels)) throw invalidType("levels", "an array of log levels", levels);
  let bits = 0;
  for (const level of levels as readonly string[]) {
    const bit = (LEVEL_BITS as Record<string, number | undefined>)[level];
    if (bit === undefined) throw invalidType("levels", `made of ${Object.keys(LEVEL_BITS).join(", ")}`, level);
    bits |= bit;
  }
  logger = fn ?? undefined;
  mask = fn ? bits : 0;
  for (const listener of listeners) listener(mask);
}

/** @internal The LLL_* mask wanted now, and a way to hear about changes. */
export function logLevelMask(onChange?: (mask: number) => void): number {
  if (onChange) listeners.add(onChange);
  return mask;
}

/** @internal Stop hearing about changes. */
export function forgetLogListener(onChange: (mask: number) => void): void {
  listeners.delete(onChange);
}

// lws starts each line with "[date time] X: "; the level is reported separately.
const LWS_PREFIX = /^\[[^\]]*\] [A-Z]: /;

/** @internal Delivers one line from the I/O thread. */
export function logLine(levelBit: number, line: string): void {
  if (!logger) return;
  const level = (Object.keys(LEVEL_BITS) as LogLevel[]).find((l) => LEVEL_BITS[l] === levelBit) ?? "notice";
  logger(level, line.replace(LWS_PREFIX, ""));
}
