// Close codes and reasons an endpoint may send (RFC 6455 §7.4, IANA registry).
import { outOfRange, invalidType } from "./errors.js";

/** Largest close reason: a control frame carries at most 125 bytes, 2 of them the code. */
export const MAX_CLOSE_REASON_BYTES = 123;

/** The code reported for a close frame without a status; asked of native code, it sends such a frame. */
export const NO_STATUS = 1005;

/** True for codes an application may put in a close frame. */
export function isSendableCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}

/** Validates `close(code, reason)` arguments, throwing a typed error when they are invalid. */
export function checkClose(code: unknown, reason: unknown): void {
  if (typeof code !== "number") throw invalidType("code", "a number", code);
  if (!isSendableCloseCode(code)) {
    throw outOfRange("code", "1000-1003, 1007-1014 or 3000-4999", code);
  }
  if (typeof reason !== "string") throw invalidType("reason", "a string", reason);
  if (Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) {
    throw outOfRange("reason", `at most ${MAX_CLOSE_REASON_BYTES} bytes of UTF-8`, reason);
  }
}
