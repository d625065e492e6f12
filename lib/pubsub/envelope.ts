// What travels on a broker channel: a 10-byte header and the message bytes, binary-safe.
//
//   byte 0     version (1)
//   byte 1     flags: 1 = binary, 2 = compress allowed
//   bytes 2-9  origin: the publishing server's random id, so it can skip its own echo
//   bytes 10-  payload (text as UTF-8)
//
// The topic is the channel name (prefix + topic), so it is not repeated here.
import { randomBytes } from "node:crypto";

const VERSION = 1;
const FLAG_BINARY = 1;
const FLAG_COMPRESS = 2;
export const ORIGIN_BYTES = 8;
const HEADER = 2 + ORIGIN_BYTES;

/** A fresh origin id (one per server; its producer threads reuse it). */
export function newOrigin(): Buffer {
  return randomBytes(ORIGIN_BYTES);
}

export function encode(origin: Buffer, data: string | ArrayBufferView, isBinary: boolean, compress: boolean): Buffer {
  const size = typeof data === "string" ? Buffer.byteLength(data) : data.byteLength;
  const out = Buffer.allocUnsafe(HEADER + size);
  out[0] = VERSION;
  out[1] = (isBinary ? FLAG_BINARY : 0) | (compress ? FLAG_COMPRESS : 0);
  origin.copy(out, 2);
  if (typeof data === "string") out.write(data, HEADER, "utf8");
  else out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), HEADER);
  return out;
}

export interface Envelope {
  isBinary: boolean;
  compress: boolean;
  /** A view of the received buffer (no copy). */
  payload: Buffer;
}

/** The envelope, or undefined for a message not from us (wrong version or too short). */
export function decode(message: Buffer, skipOrigin: Buffer): Envelope | undefined | "own" {
  if (message.length < HEADER || message[0] !== VERSION) return undefined;
  if (message.compare(skipOrigin, 0, ORIGIN_BYTES, 2, HEADER) === 0) return "own";
  const flags = message[1]!;
  return { isBinary: (flags & FLAG_BINARY) !== 0, compress: (flags & FLAG_COMPRESS) !== 0, payload: message.subarray(HEADER) };
}
