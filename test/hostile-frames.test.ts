// Hostile frames after a valid upgrade (RFC 6455 §5, §7.4): every malformed frame ends the
// connection with the close code the RFC asks for (1002 framing, 1007 bad UTF-8, 1009 too big)
// or a dropped connection, never delivers a message, and the server keeps serving everyone else.
// protocol.test.ts covers the common cases (RSV1, opcode 3, fragmented ping, orphan continuation,
// invalid UTF-8 in one frame, maxPayloadLength); this file covers the rest.
import { describe, expect, it } from "vitest";
import {
  OP,
  closePayload,
  frame,
  nextMessage,
  openTracked,
  rawTracked,
  expectStillServing,
  startRecordingServer,
  urlOf,
  useCleanup,
  waitFor,
  withTimeout,
  type RawClient,
  type Recording,
} from "./helpers.js";

const defer = useCleanup();

/**
 * The server's first answer is a close frame with `code`; the client answers it and the TCP
 * connection then ends within 2 s; no message reached the handler; the server still serves.
 */
async function expectClose(rec: Recording, raw: RawClient, code: number): Promise<void> {
  const f = await raw.readFrame();
  expect(f.opcode, `server answered with opcode ${f.opcode} (${f.payload.toString()}) instead of a close`).toBe(OP.CLOSE);
  expect(f.payload.length).toBeGreaterThanOrEqual(2);
  expect(f.payload.readUInt16BE(0)).toBe(code);
  raw.send({ opcode: OP.CLOSE, payload: f.payload.subarray(0, 2) });
  const t0 = Date.now();
  await raw.waitEnd(8000);
  expect(Date.now() - t0, "the TCP connection lingered after the closing handshake").toBeLessThan(2000);
  expect(rec.messages).toEqual([]);
  await waitFor(() => rec.closes.length === 1, 5000, "the close handler");
  await expectStillServing(defer, rec.server);
}

/**
 * For a frame refused while it is still arriving: the server's first answer is a close frame
 * with `code`. The client's close reply would be read as the rest of that frame, so the server
 * can only end the connection at its close-ack timeout; this client hangs up instead.
 */
async function expectCloseMidFrame(rec: Recording, raw: RawClient, code: number): Promise<void> {
  const f = await raw.readFrame();
  expect(f.opcode, `server answered with opcode ${f.opcode} instead of a close`).toBe(OP.CLOSE);
  expect(f.payload.readUInt16BE(0)).toBe(code);
  raw.destroy();
  await waitFor(() => rec.closes.length === 1, 5000, "the close handler");
  expect(rec.closes[0]!.code).toBe(code);
  expect(rec.messages).toEqual([]);
  await expectStillServing(defer, rec.server);
}

/** Bytes of a masked frame header with an explicit 7-bit length field (and no payload). */
function header(byte0: number, lenField: number, extended: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([Buffer.from([byte0, 0x80 | lenField]), extended, Buffer.from([1, 2, 3, 4])]);
}

describe("unmasked client frames (RFC 6455 §5.1: the server must close)", () => {
  it("an unmasked text frame is closed with 1002 and not delivered", async () => {
    const rec = await startRecordingServer(defer);
    const raw = await rawTracked(defer, rec.server.port);
    raw.send({ opcode: OP.TEXT, payload: "no mask", mask: false });
    await expectClose(rec, raw, 1002);
  });

  it("an unmasked ping is closed with 1002, not answered with a pong", async () => {
    const rec = await startRecordingServer(defer);
    const raw = await rawTracked(defer, rec.server.port);
    raw.send({ opcode: OP.PING, payload: "no mask", mask: false });
    await expectClose(rec, raw, 1002);
  });

  it("an unmasked continuation in the middle of a message is closed with 1002", async () => {
    const rec = await startRecordingServer(defer);
    const raw = await rawTracked(defer, rec.server.port);
    raw.send({ fin: false, opcode: OP.BINARY, payload: "part one" });
    raw.send({ fin: true, opcode: OP.CONT, payload: "part two", mask: false });
    await expectClose(rec, raw, 1002);
  });
});

describe("reserved bits and opcodes", () => {
  for (const rsv of [1, 2, 4, 7]) {
    it(`RSV bits ${rsv.toString(2).padStart(3, "0")} without an extension: 1002, and the connection ends promptly`, async () => {
      const rec = await startRecordingServer(defer);
      const raw = await rawTracked(defer, rec.server.port);
      raw.send({ opcode: OP.BINARY, payload: "rsv", rsv });
      await expectClose(rec, raw, 1002);
    });
  }

  for (const opcode of [0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
    it(`reserved opcode 0x${opcode.toString(16)}: 1002`, async () => {
      const rec = await startRecordingServer(defer);
      const raw = await rawTracked(defer, rec.server.port);
      raw.send({ opcode, payload: "reserved" });
      await expectClose(rec, raw, 1002);
    });
  }
});

describe("control frames", () => {
  it("a ping with a 16-bit extended length (126 bytes) is closed with 1002", async () => {
    const rec = await startRecordingServer(defer);
    const raw = await rawTracked(defer, rec.server.port);
    raw.send({ opcode: OP.PING, payload: Buffer.alloc(126, 0x61) });
    await expectClose(rec, raw, 1002);
  });

  it("a close frame with a 64-bit extended length is closed with 1002", async () => {
    const rec = await startRecordingServer(defer);
    const raw = await rawTracked(defer, rec.server.port);
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(2n);
    raw.write(Buffer.concat([header(0x88, 127, len), Buffer.from([0x03, 0xe8])]));
    await expectClose(rec, raw, 1002);
  });

  it("a fragmented close frame is closed with 1002", async () => {
    const rec = await startRecordingServer(defer);
    const raw = await rawTracked(defer, rec.server.port);
    raw.send({ fin: false, opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectClose(rec, raw, 1002);
  });
});

describe("close frames from the client", () => {
  /** The client sends this close payload: the server answers `code`, ends the connection, fires close once, goes on serving. */
  async function expectCloseAnswer(payload: Buffer, code: number): Promise<void> {
    const rec = await startRecordingServer(defer);
    const raw = await rawTracked(defer, rec.server.port);
    raw.send({ opcode: OP.CLOSE, payload });
    const f = await raw.readFrame();
    expect(f.opcode).toBe(OP.CLOSE);
    expect(f.payload.readUInt16BE(0)).toBe(code);
    await raw.waitEnd();
    await waitFor(() => rec.closes.length === 1, 5000, "the close handler");
    await expectStillServing(defer, rec.server);
  }

  // 0-999 unused; 1004-1006 and 1015 reserved or must not be sent; 1016-2999 unassigned.
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999]) {
    it(`close code ${code} is not a valid close code: the server answers 1002`, async () => {
      await expectCloseAnswer(closePayload(code, "bad"), 1002);
    });
  }

  it("a close payload of a single byte (half a code) is answered with 1002", async () => {
    await expectCloseAnswer(Buffer.from([0x03]), 1002);
  });

  it("a close reason that is not valid UTF-8 is answered with 1007", async () => {
    await expectCloseAnswer(Buffer.concat([closePayload(1000), Buffer.from([0x61, 0xff, 0x62])]), 1007);
  });

  it("frames after the client's close are ignored", async () => {
    const rec = await startRecordingServer(defer);
    const raw = await rawTracked(defer, rec.server.port);
    raw.write(Buffer.concat([frame({ opcode: OP.CLOSE, payload: closePayload(1000) }), frame({ opcode: OP.TEXT, payload: "late" })]));
    const f = await raw.readFrame();
    expect(f.opcode).toBe(OP.CLOSE);
    expect(f.payload.readUInt16BE(0)).toBe(1000);
    await raw.waitEnd();
    expect(rec.messages).toEqual([]);
  });
});

describe("invalid UTF-8 split across fragment boundaries", () => {
  // Each pair is valid-looking on its own side of the boundary and invalid only together.
  const cases: [string, number[], number[]][] = [
    ["a surrogate (ED | A0 80)", [0x61, 0xed], [0xa0, 0x80]],
    ["an overlong three-byte form (E0 | 80 80)", [0xe0], [0x80, 0x80]],
    ["a code point above U+10FFFF (F4 | 90 80 80)", [0xf4], [0x90, 0x80, 0x80]],
    ["a lead byte followed by ASCII in the next fragment (E2 82 | 41)", [0xe2, 0x82], [0x41]],
    ["a stray continuation byte at the start of a fragment", [0x61, 0x62], [0x80]],
  ];
  for (const [name, first, second] of cases) {
    it(`${name}: 1007`, async () => {
      const rec = await startRecordingServer(defer);
      const raw = await rawTracked(defer, rec.server.port);
      raw.send({ fin: false, opcode: OP.TEXT, payload: Buffer.from(first) });
      raw.send({ fin: false, opcode: OP.CONT, payload: Buffer.from(second) });
      raw.send({ fin: true, opcode: OP.CONT, payload: "end" });
      await expectClose(rec, raw, 1007);
    });
  }

  it("fails fast: invalid UTF-8 in a non-final fragment is closed before the message ends", async () => {
    const rec = await startRecordingServer(defer);
    const raw = await rawTracked(defer, rec.server.port);
    raw.send({ fin: false, opcode: OP.TEXT, payload: Buffer.from([0x61, 0xc0, 0x80]) });
    await expectClose(rec, raw, 1007);
  });
});

describe("payload lengths", () => {
  it("a 64-bit length with the most significant bit set is closed with 1002", async () => {
    const rec = await startRecordingServer(defer);
    const raw = await rawTracked(defer, rec.server.port);
    raw.write(header(0x82, 127, Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 1])));
    await expectClose(rec, raw, 1002);
  });

  it("a frame announcing 2^40 bytes is closed with 1009 as soon as its first bytes arrive", async () => {
    const rec = await startRecordingServer(defer, { maxPayloadLength: 1024 * 1024 });
    const raw = await rawTracked(defer, rec.server.port);
    raw.write(Buffer.concat([header(0x82, 127, Buffer.from([0, 0, 1, 0, 0, 0, 0, 0])), Buffer.alloc(64)]));
    await expectCloseMidFrame(rec, raw, 1009);
  });

  it("a text message announced in fragments of 2^62 bytes is closed with 1009", async () => {
    const rec = await startRecordingServer(defer);
    const raw = await rawTracked(defer, rec.server.port);
    raw.send({ fin: false, opcode: OP.TEXT, payload: "start" });
    raw.write(Buffer.concat([header(0x00, 127, Buffer.from([0x40, 0, 0, 0, 0, 0, 0, 0])), Buffer.alloc(16, 0x61)]));
    await expectCloseMidFrame(rec, raw, 1009);
  });
});

describe("truncated streams", () => {
  const truncations: [string, (raw: RawClient) => void][] = [
    ["after the first header byte", (raw) => raw.write(Buffer.from([0x81]))],
    ["inside a 64-bit length", (raw) => raw.write(Buffer.from([0x82, 0xff, 0, 0]))],
    ["inside the mask key", (raw) => raw.write(Buffer.from([0x81, 0x85, 1, 2]))],
    ["in the middle of a payload", (raw) => raw.write(frame({ opcode: OP.BINARY, payload: Buffer.alloc(1000) }).subarray(0, 500))],
    ["in the middle of a fragmented message", (raw) => raw.send({ fin: false, opcode: OP.TEXT, payload: "half a mess" })],
    ["in the middle of a close frame", (raw) => raw.write(frame({ opcode: OP.CLOSE, payload: closePayload(1000, "bye") }).subarray(0, 7))],
  ];
  for (const [name, cut] of truncations) {
    it(`a client that hangs up ${name}: the close handler sees 1006, nothing is delivered`, async () => {
      const rec = await startRecordingServer(defer);
      const raw = await rawTracked(defer, rec.server.port);
      cut(raw);
      await new Promise((resolve) => setTimeout(resolve, 50));
      raw.socket.end();
      await waitFor(() => rec.closes.length === 1, 5000, "the close handler");
      expect(rec.closes[0]!.code).toBe(1006);
      expect(rec.messages).toEqual([]);
      await expectStillServing(defer, rec.server);
    });
  }

  it("a client that resets the connection mid-frame (RST) is cleaned up too", async () => {
    const rec = await startRecordingServer(defer);
    const raw = await rawTracked(defer, rec.server.port);
    raw.write(frame({ opcode: OP.BINARY, payload: Buffer.alloc(300) }).subarray(0, 100));
    await new Promise((resolve) => setTimeout(resolve, 50));
    raw.socket.resetAndDestroy();
    await waitFor(() => rec.closes.length === 1, 5000, "the close handler");
    expect(rec.closes[0]!.code).toBe(1006);
    expect(rec.server.connections).toBe(0);
    await expectStillServing(defer, rec.server);
  });
});

describe("many hostile clients at once", () => {
  it("50 clients each sending a different malformed frame are all closed; a well-behaved client is served throughout", { timeout: 20_000 }, async () => {
    const rec = await startRecordingServer(defer);
    const good = await openTracked(defer, urlOf(rec.server));
    const bad: Buffer[] = [
      frame({ opcode: OP.TEXT, payload: "x", mask: false }),
      frame({ opcode: OP.TEXT, payload: "x", rsv: 2 }),
      frame({ opcode: 0xb, payload: "x" }),
      frame({ opcode: OP.CONT, payload: "x" }),
      frame({ opcode: OP.TEXT, payload: Buffer.from([0xff]) }),
      header(0x82, 127, Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0])),
      frame({ fin: false, opcode: OP.PONG, payload: "x" }),
      Buffer.from("GET / HTTP/1.1\r\n\r\n"),
    ];
    const sessions = Array.from({ length: 50 }, (_, i) =>
      withTimeout(
        new Promise<void>((resolve) => {
          void rawTracked(defer, rec.server.port).then((raw) => {
            raw.write(bad[i % bad.length]!);
            raw.socket.once("close", () => resolve());
            // Answer the server's close like a client would, so the closing handshake completes.
            void raw.readClose().catch(() => {});
          });
        }),
        10_000,
        `hostile client ${i} to be closed`,
      ),
    );
    for (let i = 0; i < 20; i++) {
      good.send(`ping ${i}`);
      expect((await nextMessage(good)).data.toString()).toBe(`ping ${i}`);
    }
    await Promise.all(sessions);
    expect(rec.messages.map((m) => m.data.toString()).every((m) => m.startsWith("ping "))).toBe(true);
    await waitFor(() => rec.server.connections === 1, 5000, "only the good client to remain");
  });
});
