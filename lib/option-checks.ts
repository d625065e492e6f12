// Checks every options object shares (createServer, connect, pubsub): known keys, integers in a
// range, booleans, HTTP tokens. Each throws Node-style coded errors naming the option.
import { invalidType, outOfRange } from "./errors.js";

/** An HTTP token (RFC 9110 5.6.2): header names, subprotocols. */
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Throws `ERR_INVALID_ARG_TYPE` for a key of `options` that is not in `known`, listing the known ones. */
export function rejectUnknownOptions(options: object, known: ReadonlySet<string>): void {
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw invalidType(key, `one of the known options (${[...known].join(", ")})`, key);
  }
}

/** `value`, or `fallback` when undefined; throws unless it is an integer from `min` to `max`. */
export function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") throw invalidType(name, "a number", value);
  if (!Number.isInteger(value) || value < min || value > max) throw outOfRange(name, `an integer from ${min} to ${max}`, value);
  return value;
}

/** `value`, or `fallback` when undefined; throws unless it is a boolean. */
export function boolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw invalidType(name, "a boolean", value);
  return value;
}
