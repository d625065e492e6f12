// Argument checks shared by every send-like call (send, publish, broadcast, ping). They run
// before anything else, so a wrong call throws whatever the socket's state or backpressure.
import { invalidType, outOfRange } from "./errors.js";
import type { SendData } from "./server-websocket.js";

/** The bytes of `data` as native code takes them (a string or a view); throws for anything else. */
export function sendable(call: string, data: unknown): string | ArrayBufferView {
  if (typeof data === "string" || ArrayBuffer.isView(data)) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw invalidType("data", `a string, an ArrayBuffer or an ArrayBufferView: lwsnode's form is ${call}`, data, "argument");
}

/**
 * Checks a boolean flag argument (`isBinary`, `compress`). The `ws` package's shapes,
 * `send(data, { binary })` and `send(data, callback)`, land here as an object or a function:
 * the error names lwsnode's form so the mistake is obvious.
 */
export function checkFlag(call: string, name: string, value: unknown): asserts value is boolean {
  if (typeof value === "boolean") return;
  const wsShape = value !== null && (typeof value === "object" || typeof value === "function");
  const hint = wsShape ? " (no options object or callback, unlike ws: the return value reports the outcome)" : "";
  throw invalidType(name, `a boolean or undefined: lwsnode's form is ${call}${hint}`, value, "argument");
}

/** Largest ping/pong payload (RFC 6455 5.5: control frames carry at most 125 bytes). */
export const MAX_PING_BYTES = 125;

/** The payload of `ping(data)`, checked: a string or bytes of at most 125 bytes. */
export function pingPayload(data: SendData): string | ArrayBufferView {
  const view = sendable("ping(data?)", data);
  const bytes = typeof view === "string" ? Buffer.byteLength(view) : view.byteLength;
  if (bytes > MAX_PING_BYTES) throw outOfRange("data", `at most ${MAX_PING_BYTES} bytes (a ping payload)`, `${bytes} bytes`);
  return view;
}
