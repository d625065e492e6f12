// Argument checks shared by every send-like call (send, publish, broadcast, ping, subscribe).
// They run before anything else, so a wrong call throws whatever the socket's state or
// backpressure.
import { invalidType, outOfRange } from "./errors.js";

/** Data a socket can send: text as a string, bytes as any ArrayBuffer or view of one. */
export type SendData = string | ArrayBuffer | ArrayBufferView;

/** Topic names are non-empty strings of at most this many UTF-16 code units. */
export const MAX_TOPIC_LENGTH = 1024;

/** Throws `ERR_INVALID_ARG_TYPE` for a topic that is not a string, `ERR_OUT_OF_RANGE` for an empty or too long one. */
export function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== "string") throw invalidType("topic", "a string", topic, "argument");
  if (topic.length === 0 || topic.length > MAX_TOPIC_LENGTH) {
    throw outOfRange("topic", `1 to ${MAX_TOPIC_LENGTH} characters long`, topic);
  }
}

/** The bytes of `data` as native code takes them (a string or a view); throws for anything else. */
export function sendable(call: string, data: unknown): string | ArrayBufferView {
  // Kept this small so that the optimizing compiler inlines it into every send.
  if (typeof data === "string" || ArrayBuffer.isView(data)) return data;
  return otherSendable(call, data);
}

function otherSendable(call: string, data: unknown): ArrayBufferView {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw invalidType("data", `a string, an ArrayBuffer or an ArrayBufferView: lwsnode's form is ${call}`, data, "argument");
}

/**
 * Checks a boolean flag argument (`isBinary`, `compress`). The `ws` package's shapes,
 * `send(data, { binary })` and `send(data, callback)`, land here as an object or a function:
 * the error names lwsnode's form so the mistake is obvious.
 */
export function checkFlag(call: string, name: string, value: unknown): asserts value is boolean {
  if (typeof value !== "boolean") notAFlag(call, name, value);
}

function notAFlag(call: string, name: string, value: unknown): never {
  const wsShape = value !== null && (typeof value === "object" || typeof value === "function");
  const hint = wsShape ? " (no options object or callback, unlike ws: the return value reports the outcome)" : "";
  throw invalidType(name, `a boolean or undefined: lwsnode's form is ${call}${hint}`, value, "argument");
}

/**
 * The arguments of a send-like call (`call` names its form in errors): the bytes of `data`, after
 * checking that `isBinary` and `compress` are booleans.
 */
export function sendArgs(call: string, data: unknown, isBinary: unknown, compress: unknown): string | ArrayBufferView {
  const bytes = sendable(call, data);
  checkFlag(call, "isBinary", isBinary);
  checkFlag(call, "compress", compress);
  return bytes;
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
