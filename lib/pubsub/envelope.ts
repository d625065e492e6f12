// What travels on a broker channel: one or more messages of one topic, binary-safe.
//
//   byte 0      version (2)
//   bytes 1-8   origin: the publishing server's random id, so it can skip its own echo
//   then, per message:
//     1 byte    flags: 1 = binary, 2 = compress allowed
//     4 bytes   payload length, big-endian
//     payload   (text as UTF-8)
//
// The topic is the channel name (prefix + topic), so it is not repeated. Messages published to
// one topic in one JS turn share an envelope: one broker command instead of one each.
import { randomBytes } from "node:crypto";

const VERSION = 2;
const FLAG_BINARY = 1;
const FLAG_COMPRESS = 2;
export const ORIGIN_BYTES = 8;
const HEADER = 1 + ORIGIN_BYTES;
const RECORD_HEADER = 5;

/** A fresh origin id (one per server; its producer threads reuse it). */
export function newOrigin(): Buffer {
  return randomBytes(ORIGIN_BYTES);
}

/** Builds one envelope from messages added in order. */
export class EnvelopeBuilder {
  #parts: Buffer[] = [];
  #bytes = 0;
  count = 0;

  constructor(origin: Buffer) {
    const head = Buffer.allocUnsafe(HEADER);
    head[0] = VERSION;
    origin.copy(head, 1);
    this.#parts.push(head);
    this.#bytes = HEADER;
  }

  get bytes(): number {
    return this.#bytes;
  }

  add(data: string | ArrayBufferView, isBinary: boolean, compress: boolean): void {
    const size = typeof data === "string" ? Buffer.byteLength(data) : data.byteLength;
    const record = Buffer.allocUnsafe(RECORD_HEADER + size);
    record[0] = (isBinary ? FLAG_BINARY : 0) | (compress ? FLAG_COMPRESS : 0);
    record.writeUInt32BE(size, 1);
    if (typeof data === "string") record.write(data, RECORD_HEADER, "utf8");
    else record.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), RECORD_HEADER);
    this.#parts.push(record);
    this.#bytes += record.length;
    this.count++;
  }

  finish(): Buffer {
    return Buffer.concat(this.#parts, this.#bytes);
  }
}

export interface Message {
  isBinary: boolean;
  compress: boolean;
  /** A view of the received buffer (no copy). */
  payload: Buffer;
}

/**
 * The messages of an envelope; "own" when it carries `skipOrigin`; undefined when it is not one
 * of ours (wrong version, truncated).
 */
export function decode(envelope: Buffer, skipOrigin: Buffer): Message[] | "own" | undefined {
  if (envelope.length < HEADER || envelope[0] !== VERSION) return undefined;
  if (envelope.compare(skipOrigin, 0, ORIGIN_BYTES, 1, HEADER) === 0) return "own";
  const out: Message[] = [];
  let at = HEADER;
  while (at < envelope.length) {
    if (at + RECORD_HEADER > envelope.length) return undefined;
    const flags = envelope[at]!;
    const size = envelope.readUInt32BE(at + 1);
    const start = at + RECORD_HEADER;
    if (start + size > envelope.length) return undefined;
    out.push({ isBinary: (flags & FLAG_BINARY) !== 0, compress: (flags & FLAG_COMPRESS) !== 0, payload: envelope.subarray(start, start + size) });
    at = start + size;
  }
  return out;
}
