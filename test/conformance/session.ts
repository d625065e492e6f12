// The raw-socket side of the conformance suite: a client session that speaks RFC 6455 by hand
// (frames from test/helpers.ts), records everything the peer sends, and a permessage-deflate
// codec (node:zlib raw deflate) for RFC 7692 payloads.
import { connect, type Socket } from "node:net";
import { constants, createDeflateRaw, createInflateRaw, type DeflateRaw, type InflateRaw } from "node:zlib";
import { OP, acceptFor, newKey, parseFrame, readHttpHead, upgradeRequest, withTimeout, type ParsedFrame } from "../helpers.js";

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** What one side of a case saw arrive, in order. */
export type Observed =
  | { kind: "message"; binary: boolean; data: Buffer; compressed: boolean }
  | { kind: "pong"; data: Buffer }
  | { kind: "ping"; data: Buffer }
  | { kind: "close"; code: number | undefined; reason: Buffer }
  | { kind: "protocol-error"; what: string };

/** A streaming raw-deflate codec for one direction, with RFC 7692's tail handling. */
export class PmdCodec {
  private deflater: DeflateRaw | undefined;
  private inflater: InflateRaw | undefined;
  constructor(
    private readonly deflateBits: number,
    private readonly deflateNoContext: boolean,
    private readonly inflateNoContext: boolean,
  ) {}

  async compress(data: Buffer): Promise<Buffer> {
    // zlib's raw deflate has no 8-bit window; 9 is what a sender offering 8 has to use too.
    if (!this.deflater || this.deflateNoContext) {
      this.deflater?.close();
      this.deflater = createDeflateRaw({ windowBits: Math.max(9, this.deflateBits) });
    }
    const out = await flushThrough(this.deflater, data);
    return out.subarray(0, out.length - 4);  // RFC 7692 7.2.1: drop 00 00 ff ff
  }

  async decompress(data: Buffer): Promise<Buffer> {
    if (!this.inflater || this.inflateNoContext) {
      this.inflater?.close();
      this.inflater = createInflateRaw({ windowBits: 15 });
    }
    return flushThrough(this.inflater, Buffer.concat([data, TAIL]));
  }

  close(): void {
    this.deflater?.close();
    this.inflater?.close();
  }
}

function flushThrough(stream: DeflateRaw | InflateRaw, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const onData = (c: Buffer): void => {
      chunks.push(c);
    };
    const onError = (e: Error): void => {
      stream.off("data", onData);
      reject(e);
    };
    stream.on("data", onData);
    stream.once("error", onError);
    stream.write(data);
    stream.flush(constants.Z_SYNC_FLUSH, () => {
      stream.off("data", onData);
      stream.off("error", onError);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** The parameters of an accepted permessage-deflate response. */
export interface PmdParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  clientMaxWindowBits: number | undefined;
}

/** Parses a Sec-WebSocket-Extensions response; throws on anything RFC 7692 forbids there. */
export function parsePmdResponse(header: string | undefined): PmdParams | undefined {
  if (!header || !header.trim()) return undefined;
  const elements = header.split(",");
  if (elements.length !== 1) throw new Error(`several extensions accepted: ${header}`);
  const [name, ...params] = elements[0]!.split(";").map((s) => s.trim());
  if (name !== "permessage-deflate") throw new Error(`unexpected extension ${name}`);
  const out: PmdParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  for (const p of params) {
    const [key, raw] = p.split("=").map((s) => s.trim());
    if (!key || seen.has(key)) throw new Error(`duplicate or empty parameter in ${header}`);
    seen.add(key);
    const value = raw?.replace(/^"(.*)"$/, "$1");
    const bits = (): number => {
      if (!value || !/^(8|9|1[0-5])$/.test(value)) throw new Error(`bad window in ${header}`);
      return Number(value);
    };
    if (key === "server_no_context_takeover" && value === undefined) out.serverNoContextTakeover = true;
    else if (key === "client_no_context_takeover" && value === undefined) out.clientNoContextTakeover = true;
    else if (key === "server_max_window_bits") out.serverMaxWindowBits = bits();
    else if (key === "client_max_window_bits") out.clientMaxWindowBits = bits();
    else throw new Error(`parameter not allowed in a response: ${p}`);
  }
  return out;
}

/** One raw client connection: handshake, writes, and everything the server sent. */
export class Session {
  readonly observed: Observed[] = [];
  /** Frames (any kind) that arrived after the server's close frame: always a failure. */
  framesAfterClose = 0;
  responseHeaders = new Map<string, string>();
  pmd: PmdParams | undefined;
  codec: PmdCodec | undefined;
  /** Set once the TCP connection ended (FIN or reset), with the time it did. */
  endedAt: number | undefined;
  closeAt: number | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragOpcode = 0;
  private fragCompressed = false;
  private waiters: (() => void)[] = [];
  private work: Promise<void> = Promise.resolve();

  private constructor(readonly socket: Socket) {}

  static async open(port: number, extensions?: string, timeoutMs = 3000): Promise<Session> {
    const socket = connect(port, "127.0.0.1");
    socket.setNoDelay(true);
    const s = new Session(socket);
    const key = newKey();
    const headers: Record<string, string> = extensions === undefined ? {} : { "Sec-WebSocket-Extensions": extensions };
    const answered = readHttpHead(socket);
    socket.write(upgradeRequest(port, { key, headers }));
    try {
      const { firstLine, headers: response, rest } = await withTimeout(answered, timeoutMs, "the handshake");
      if (!/^HTTP\/1\.1 101/.test(firstLine)) throw new Error(`handshake answered ${firstLine}`);
      s.responseHeaders = response;
      if (response.get("sec-websocket-accept") !== acceptFor(key)) throw new Error("bad Sec-WebSocket-Accept");
      s.pmd = parsePmdResponse(response.get("sec-websocket-extensions"));
      if (s.pmd) {
        s.codec = new PmdCodec(s.pmd.clientMaxWindowBits ?? 15, s.pmd.clientNoContextTakeover, s.pmd.serverNoContextTakeover);
      }
      s.attach(rest);
    } catch (err) {
      socket.destroy();
      throw err;
    }
    return s;
  }

  private attach(rest: Buffer): void {
    const done = (): void => {
      // Only once the frames before the end were handled (inflating is asynchronous).
      const at = Date.now();
      this.work = this.work.then(() => {
        if (this.endedAt === undefined) this.endedAt = at;
        this.wake();
      });
    };
    this.socket.on("data", (c: Buffer) => this.feed(c));
    this.socket.on("end", done);
    this.socket.on("close", done);
    this.socket.on("error", () => undefined);  // a reset ends it too ("close" follows)
    if (rest.length) this.feed(rest);
    this.socket.resume();
  }

  private feed(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const parsed = parseFrame(this.buf);
      if (!parsed) break;
      this.buf = this.buf.subarray(parsed.length);
      const f = parsed.frame;
      // Inflating is asynchronous: keep the order of what arrived.
      this.work = this.work.then(() => this.onFrame(f)).then(() => this.wake());
    }
  }

  private async onFrame(f: ParsedFrame): Promise<void> {
    if (this.closeAt !== undefined) {
      this.framesAfterClose++;
      return;
    }
    const push = (o: Observed): void => {
      this.observed.push(o);
    };
    if (f.opcode >= 8) {
      if (f.opcode === OP.CLOSE) {
        this.closeAt = Date.now();
        push({
          kind: "close",
          code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined,
          reason: f.payload.subarray(2),
        });
      } else if (f.opcode === OP.PING) push({ kind: "ping", data: f.payload });
      else if (f.opcode === OP.PONG) push({ kind: "pong", data: f.payload });
      else push({ kind: "protocol-error", what: `opcode ${f.opcode}` });
      return;
    }
    if (f.opcode !== OP.CONT) {
      if (this.fragments.length) push({ kind: "protocol-error", what: "new message inside a fragmented one" });
      this.fragments = [];
      this.fragOpcode = f.opcode;
      this.fragCompressed = (f.rsv & 4) !== 0;
      if ((f.rsv & 4) && !this.pmd) push({ kind: "protocol-error", what: "RSV1 without permessage-deflate" });
      if (f.rsv & 3) push({ kind: "protocol-error", what: "RSV2/RSV3" });
    } else if (f.rsv) {
      push({ kind: "protocol-error", what: "RSV bits on a continuation" });
    }
    this.fragments.push(f.payload);
    if (!f.fin) return;
    let data: Buffer = Buffer.concat(this.fragments);
    this.fragments = [];
    if (this.fragCompressed && this.codec) {
      try {
        data = await this.codec.decompress(data);
      } catch {
        push({ kind: "protocol-error", what: "compressed payload does not inflate" });
        return;
      }
    }
    push({ kind: "message", binary: this.fragOpcode === OP.BINARY, data, compressed: this.fragCompressed });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }

  /** Resolves when `predicate` holds (checked on every frame and at the end), or after `ms`. */
  async until(predicate: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return true;
  }

  write(...frames: Buffer[]): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(Buffer.concat(frames));
  }

  /** Writes `data` in pieces of `size` bytes, a few ms apart (a peer trickling its bytes). */
  async writeChopped(data: Buffer, size: number): Promise<void> {
    for (let i = 0; i < data.length; i += size) {
      this.write(data.subarray(i, i + size));
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  messages(): Observed[] {
    return this.observed.filter((o) => o.kind === "message" || o.kind === "pong");
  }

  closeFrame(): Extract<Observed, { kind: "close" }> | undefined {
    return this.observed.find((o) => o.kind === "close") as Extract<Observed, { kind: "close" }> | undefined;
  }

  destroy(): void {
    this.codec?.close();
    this.socket.destroy();
  }
}
