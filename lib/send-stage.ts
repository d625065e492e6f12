// Small sends, staged: the sends of a JS turn are copied into one buffer here and cross into
// native code in one call (native/send_batch.h), at the end of the turn or of an event
// delivery. A Node-API call per ws.send() cost more than everything else a small send does.
//
// Ordering: every native command for a connection must follow the sends staged before it, so
// the reactor flushes this stage before any other native call (lib/reactor.ts, `native`).
// Larger messages are not staged (copying them twice would cost more than the call): they go
// straight to native code, after a flush.
import { BINARY } from "./native.js";

/** Stage size; a turn that stages more flushes it when full. */
export const STAGE_BYTES = 64 * 1024;
/** Largest payload staged, in bytes. */
export const STAGE_MAX_PAYLOAD = 4096;
/** Record header: u32 slot, u32 flags, u32 payload length (native kStagedHeaderBytes). */
const HEADER = 12;
/** A string of at most this many UTF-16 units has at most STAGE_MAX_PAYLOAD bytes of UTF-8. */
const MAX_CHARS = Math.floor(STAGE_MAX_PAYLOAD / 3);

export class SendStage {
  /** Bytes staged so far (records are 4-byte aligned). */
  used = 0;
  private readonly stage = new ArrayBuffer(STAGE_BYTES);
  private readonly bytes = Buffer.from(this.stage);
  private readonly words = new Uint32Array(this.stage);

  /** `flush(stage, used)` hands the staged records to native code (which copies them). */
  constructor(private readonly flushTo: (stage: ArrayBuffer, used: number) => void) {}

  /**
   * Stages one message for `slot` (flags: native send flags); returns its payload bytes, or -1
   * when it is too large to stage (the caller sends it directly, after flush()).
   */
  add(slot: number, data: string | ArrayBufferView, isBinary: boolean, flags: number): number {
    let at = this.used;
    let len: number;
    if (typeof data === "string") {
      if (data.length > MAX_CHARS) return -1;
      // UTF-8 is at most 3 bytes per UTF-16 unit: reserve that, then write what it takes.
      if (at + HEADER + data.length * 3 > STAGE_BYTES) at = this.flush();
      len = data.length === 0 ? 0 : this.bytes.write(data, at + HEADER);
    } else {
      len = data.byteLength;
      if (len > STAGE_MAX_PAYLOAD) return -1;
      if (at + HEADER + len > STAGE_BYTES) at = this.flush();
      if (len > 0) {
        const view = data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, len);
        this.bytes.set(view, at + HEADER);
      }
    }
    const w = at >>> 2;
    this.words[w] = slot;
    this.words[w + 1] = isBinary ? flags | BINARY : flags;
    this.words[w + 2] = len;
    this.used = at + HEADER + ((len + 3) & ~3);
    return len;
  }

  /** The stage itself (the native side reads it when a delivery's dispatch returns). */
  get buffer(): ArrayBuffer {
    return this.stage;
  }

  /**
   * Empties the stage without a native call, returning the bytes that were staged: the caller
   * hands them over another way (a delivery's dispatch returns the count and the native side
   * copies them before any other JS runs).
   */
  take(): number {
    const used = this.used;
    this.used = 0;
    return used;
  }

  /** Hands what is staged to native code; returns the new (empty) position. */
  flush(): number {
    const used = this.used;
    if (used > 0) {
      this.used = 0;
      this.flushTo(this.stage, used);
    }
    return 0;
  }
}
