// The JS side of native event delivery: reads the reactor's inbox (native/event_batch.h,
// Inbox) and makes the Buffers handlers receive.
//
// The native side packs every batch it delivers into one reusable buffer (the inbox) and
// calls dispatch once, with no Node-API object per event. The inbox is overwritten by the
// next delivery, and users may keep a message Buffer after their handler returns, so payloads
// are copied out of it here into pages that JS owns, and each message is a view of its page.
// A page holds consecutive payloads, cut at message boundaries, of at most PAGE_BYTES in all
// (one bigger payload gets a page of exactly its size). So a message kept for ever pins at
// most PAGE_BYTES - the same as a small Buffer.from() pins of Node's own Buffer pool - never
// the whole delivery, which can be megabytes; and the cost stays one ArrayBuffer per 8 KiB
// of payload (or per delivery when it carries less).

/** Header words (native Inbox::kHeaderBytes / 4): records, payload start, payload end, larges. */
const HEADER_WORDS = 4;
/** Words per event record (native EventRecord). */
export const RECORD_WORDS = 8;
/** The most a page holds; see above. */
export const PAGE_BYTES = 8 * 1024;
/** An inbox grown beyond this is dropped after its delivery (native/binding_events.h JsInbox::kKeepBytes). */
const KEEP_BYTES = 1024 * 1024;

const EMPTY = Buffer.alloc(0);
const NO_PAGE = new ArrayBuffer(0);

/** Makes a Buffer viewing `len` bytes of `ab` from `offset`. */
type BufferView = new (ab: ArrayBuffer, offset: number, len: number) => Buffer;

// Node's own Buffer class (FastBuffer: a Uint8Array subclass whose prototype is
// Buffer.prototype) is what `Buffer[Symbol.species]` answers; Buffer.prototype.slice constructs
// through it too. Constructing it directly makes a message Buffer for about a quarter less
// than `subarray()` (which also looks the species up and reads `buffer` through a C++ getter on
// every call; see README, "Small messages"). Should a Node version not expose it,
// Buffer.from(ab, off, len) builds the same.
const FastBuffer: BufferView = (() => {
  const species = (Buffer as unknown as { [Symbol.species]?: unknown })[Symbol.species];
  if (typeof species === "function" && species.prototype === Buffer.prototype) return species as BufferView;
  return function FromArrayBuffer(ab: ArrayBuffer, offset: number, len: number): Buffer {
    return Buffer.from(ab, offset, len);
  } as unknown as BufferView;
})();

export class Inbox {
  /** The inbox as 32-bit words: the header, then the records. */
  words: Uint32Array = new Uint32Array(0);
  private bytes: Buffer = EMPTY;
  private large: Buffer[] | undefined;
  /** The current page's memory (a fresh ArrayBuffer per page; see the top of this file). */
  private page: ArrayBuffer = NO_PAGE;
  private pageStart = 0;
  private pageEnd = 0;

  /**
   * Starts a delivery: adopts `inbox` when the native side passed a new one, and the large
   * payloads. Returns the index in `words` just past the last record (records start at
   * HEADER_WORDS).
   */
  begin(inbox: ArrayBuffer | undefined, large: Buffer[] | undefined): number {
    if (inbox !== undefined) {
      this.words = new Uint32Array(inbox);
      this.bytes = Buffer.from(inbox);
    }
    this.large = large;
    this.pageStart = this.pageEnd = 0;
    return HEADER_WORDS + this.words[0]! * RECORD_WORDS;
  }

  /** Ends a delivery: lets go of what only this delivery needed. */
  end(): void {
    this.large = undefined;
    this.page = NO_PAGE;
    if (this.bytes.length > KEEP_BYTES) {
      // The native side dropped this inbox too: it was grown by a burst.
      this.words = new Uint32Array(0);
      this.bytes = EMPTY;
    }
  }

  get firstRecord(): number {
    return HEADER_WORDS;
  }

  /** The payload of the record at word `r`, as a Buffer JS owns (see the top of this file). */
  payload(r: number): Buffer {
    const words = this.words;
    const len = words[r + 5]!;
    if (words[r + 6]) return this.large![words[r + 4]!]!;
    if (len === 0) return EMPTY;
    const off = words[r + 4]!;
    if (off < this.pageStart || off + len > this.pageEnd) this.cutPage(r, off, len);
    return new FastBuffer(this.page, off - this.pageStart, len);
  }

  /** The payload of the record at word `r` decoded as UTF-8 (no Buffer made). */
  text(r: number): string {
    const words = this.words;
    const len = words[r + 5]!;
    if (len === 0 || words[r + 6]) return "";
    const off = words[r + 4]!;
    return this.bytes.toString("utf8", off, off + len);
  }

  // A new page from `off`: this payload and those of the following records while the page
  // stays within PAGE_BYTES. Payloads lie in record order, back to back.
  private cutPage(r: number, off: number, len: number): void {
    const words = this.words;
    let end = off + len;
    const limit = HEADER_WORDS + words[0]! * RECORD_WORDS;
    for (let k = r + RECORD_WORDS; k < limit; k += RECORD_WORDS) {
      const l = words[k + 5]!;
      if (l === 0 || words[k + 6]) continue;
      const e = words[k + 4]! + l;
      if (e - off > PAGE_BYTES) break;
      end = e;
    }
    const page = Buffer.allocUnsafeSlow(end - off); // its own ArrayBuffer, at offset 0
    this.bytes.copy(page, 0, off, end);
    this.page = page.buffer as ArrayBuffer;
    this.pageStart = off;
    this.pageEnd = end;
  }
}
