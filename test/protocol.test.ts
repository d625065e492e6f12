// Wire protocol, exercised with hand-made frames over a raw TCP socket.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type WebSocket from "ws";
import type { Server } from "../lib/index.js";
import {
  OP,
  closePayload,
  nextMessage,
  openTracked,
  rawTracked,
  startRecordingServer,
  urlOf,
  useCleanup,
  waitFor,
  type ParsedFrame,
  type RawClient,
  type Recording,
} from "./helpers.js";

const defer = useCleanup();

/** The server still echoes for a `ws` client opened before the misbehaving one and for a new one. */
async function assertStillServing(server: Server, earlier: Awaited<ReturnType<typeof openTracked>>): Promise<void> {
  earlier.send("still there?");
  expect((await nextMessage(earlier)).data.toString()).toBe("still there?");
  const later = await openTracked(defer, urlOf(server));
  later.send(Buffer.from([9, 8, 7]), { binary: true });
  const reply = await nextMessage(later);
  expect(reply.isBinary).toBe(true);
  expect([...reply.data]).toEqual([9, 8, 7]);
}

describe("raw handshake", () => {
  it("answers a hand-made upgrade with 101 and the right Sec-WebSocket-Accept, then echoes an unfragmented frame", async () => {
    const { server } = await startRecordingServer(defer);
    const raw = await rawTracked(defer, server.port); // rawConnect checks status and accept
    raw.send({ opcode: OP.TEXT, payload: "plain" });
    const f = await raw.readDataFrame();
    expect(f).toMatchObject({ fin: true, opcode: OP.TEXT, rsv: 0 });
    expect(f.payload.toString()).toBe("plain");
  });

  it("answers a ping with a pong carrying the same payload", async () => {
    const { server } = await startRecordingServer(defer);
    const raw = await rawTracked(defer, server.port);
    raw.send({ opcode: OP.PING, payload: "are you there" });
    const f = await raw.readFrame();
    expect(f.opcode).toBe(OP.PONG);
    expect(f.payload.toString()).toBe("are you there");
  });

  it("a client's close frame is answered with a close frame and reaches the close handler", async () => {
    const { server, closes } = await startRecordingServer(defer);
    const raw = await rawTracked(defer, server.port);
    raw.send({ opcode: OP.CLOSE, payload: closePayload(3456, "raw bye") });
    const f = await raw.readFrame();
    expect(f.opcode).toBe(OP.CLOSE);
    expect(f.payload.readUInt16BE(0)).toBe(3456);
    await waitFor(() => closes.length === 1, 5000, "the close handler");
    expect(closes[0]).toMatchObject({ code: 3456, reason: "raw bye" });
    await raw.waitEnd();
  });
});

describe("fragmentation", () => {
  it("reassembles a text message sent in several fragments with a ping between them", async () => {
    const { server, messages } = await startRecordingServer(defer);
    const earlier = await openTracked(defer, urlOf(server));
    const raw = await rawTracked(defer, server.port);
    raw.send({ fin: false, opcode: OP.TEXT, payload: "Hel" });
    raw.send({ opcode: OP.PING, payload: "mid" });
    raw.send({ fin: false, opcode: OP.CONT, payload: "lo, " });
    raw.send({ fin: false, opcode: OP.CONT, payload: "" });
    raw.send({ fin: true, opcode: OP.CONT, payload: "wörld" });
    const control: ParsedFrame[] = [];
    const f = await raw.readDataFrame(5000, control);
    expect(f.opcode).toBe(OP.TEXT);
    expect(f.fin).toBe(true);
    expect(f.payload.toString()).toBe("Hello, wörld");
    expect(messages).toEqual([{ data: Buffer.from("Hello, wörld"), isBinary: false }]);
    if (control.length === 0) control.push(await raw.readFrame()); // the pong may follow the echo
    expect(control.map((c) => [c.opcode, c.payload.toString()])).toEqual([[OP.PONG, "mid"]]);
    await assertStillServing(server, earlier);
  });

  it("reassembles a binary message sent in several fragments with a ping between them", async () => {
    const { server, messages } = await startRecordingServer(defer);
    const raw = await rawTracked(defer, server.port);
    const parts = [randomBytes(100), randomBytes(70_000), randomBytes(1), randomBytes(300)];
    raw.send({ fin: false, opcode: OP.BINARY, payload: parts[0] });
    raw.send({ fin: false, opcode: OP.CONT, payload: parts[1] });
    raw.send({ opcode: OP.PING, payload: Buffer.from([1, 2]) });
    raw.send({ fin: false, opcode: OP.CONT, payload: parts[2] });
    raw.send({ fin: true, opcode: OP.CONT, payload: parts[3] });
    const whole = Buffer.concat(parts);
    const control: ParsedFrame[] = [];
    // The server may fragment its own reply: gather until FIN.
    let f = await raw.readDataFrame(5000, control);
    expect(f.opcode).toBe(OP.BINARY);
    const chunks = [f.payload];
    while (!f.fin) {
      f = await raw.readDataFrame(5000, control);
      expect(f.opcode).toBe(OP.CONT);
      chunks.push(f.payload);
    }
    expect(Buffer.concat(chunks).equals(whole)).toBe(true);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.isBinary).toBe(true);
    expect(messages[0]!.data.equals(whole)).toBe(true);
    if (control.length === 0) control.push(await raw.readFrame());
    expect(control[0]!.opcode).toBe(OP.PONG);
    expect([...control[0]!.payload]).toEqual([1, 2]);
  });

  it("accepts a UTF-8 character split across a fragment boundary", async () => {
    const { server, messages, closes } = await startRecordingServer(defer);
    const raw = await rawTracked(defer, server.port);
    const text = Buffer.from("price: €5 and 𝄞"); // € = e2 82 ac, 𝄞 = f0 9d 84 9e
    const euro = text.indexOf(0xe2);
    const clef = text.indexOf(0xf0);
    raw.send({ fin: false, opcode: OP.TEXT, payload: text.subarray(0, euro + 2) });
    raw.send({ fin: false, opcode: OP.CONT, payload: text.subarray(euro + 2, clef + 1) });
    raw.send({ fin: false, opcode: OP.CONT, payload: text.subarray(clef + 1, clef + 3) });
    raw.send({ fin: true, opcode: OP.CONT, payload: text.subarray(clef + 3) });
    const f = await raw.readDataFrame();
    expect(f.opcode).toBe(OP.TEXT);
    expect(f.payload.equals(text)).toBe(true);
    expect(messages).toEqual([{ data: text, isBinary: false }]);
    expect(closes).toEqual([]);
  });

  it("a continuation frame with no message started is a protocol error (1002)", async () => {
    const { server, messages, closes } = await startRecordingServer(defer);
    const earlier = await openTracked(defer, urlOf(server));
    const raw = await rawTracked(defer, server.port);
    raw.send({ fin: true, opcode: OP.CONT, payload: "orphan" });
    const close = await raw.readClose();
    expect(close.code).toBe(1002);
    await raw.waitEnd();
    expect(messages).toEqual([]);
    await assertStillServing(server, earlier);
    await waitFor(() => closes.length === 1, 5000, "the close handler");
    expect(closes[0]!.code, "close handler code (the server sent 1002)").toBe(1002);
  });
});

describe("invalid UTF-8", () => {
  const invalid: [string, Buffer][] = [
    ["a lone continuation byte", Buffer.from([0x61, 0x80, 0x62])],
    ["a truncated sequence", Buffer.from([0xc3, 0x28])],
    ["an overlong encoding", Buffer.from([0xc0, 0xaf])],
    ["a UTF-16 surrogate", Buffer.from([0xed, 0xa0, 0x80])],
    ["a code point above U+10FFFF", Buffer.from([0xf4, 0x90, 0x80, 0x80])],
  ];
  for (const [name, payload] of invalid) {
    it(`closes with 1007 on a text frame containing ${name}`, async () => {
      const { server, messages } = await startRecordingServer(defer);
      const raw = await rawTracked(defer, server.port);
      raw.send({ opcode: OP.TEXT, payload });
      const close = await raw.readClose();
      expect(close.code).toBe(1007);
      await raw.waitEnd();
      expect(messages).toEqual([]);
    });
  }

  it("closes with 1007 when the final fragment ends inside a multi-byte character", async () => {
    const { server, messages } = await startRecordingServer(defer);
    const raw = await rawTracked(defer, server.port);
    raw.send({ fin: false, opcode: OP.TEXT, payload: "abc" });
    raw.send({ fin: true, opcode: OP.CONT, payload: Buffer.from([0x64, 0xe2, 0x82]) });
    const close = await raw.readClose();
    expect(close.code).toBe(1007);
    expect(messages).toEqual([]);
  });

  it("reports 1007 to the server's close handler too", async () => {
    const { server, closes } = await startRecordingServer(defer);
    const raw = await rawTracked(defer, server.port);
    raw.send({ opcode: OP.TEXT, payload: Buffer.from([0xff, 0xfe]) });
    expect((await raw.readClose()).code).toBe(1007);
    await waitFor(() => closes.length === 1, 5000, "the close handler");
    expect(closes[0]!.code).toBe(1007);
  });

  it("binary frames are not checked for UTF-8", async () => {
    const { server, messages } = await startRecordingServer(defer);
    const raw = await rawTracked(defer, server.port);
    raw.send({ opcode: OP.BINARY, payload: Buffer.from([0xff, 0xfe, 0xc0]) });
    const f = await raw.readDataFrame();
    expect(f.opcode).toBe(OP.BINARY);
    expect([...f.payload]).toEqual([0xff, 0xfe, 0xc0]);
    expect(messages).toHaveLength(1);
  });

  it("keeps serving other clients after closing one for invalid UTF-8", async () => {
    const { server } = await startRecordingServer(defer);
    const earlier = await openTracked(defer, urlOf(server));
    const raw = await rawTracked(defer, server.port);
    raw.send({ opcode: OP.TEXT, payload: Buffer.from([0xc3, 0x28]) });
    expect((await raw.readClose()).code).toBe(1007);
    await assertStillServing(server, earlier);
  });
});

describe("maxPayloadLength", () => {
  const max = 1024;

  /**
   * The server closes `raw` with 1009 and ends the TCP connection; the close handler saw 1009,
   * no message reached the handler, and the server still serves `earlier` and new clients.
   */
  async function expectTooBig(rec: Recording, raw: RawClient, earlier: WebSocket): Promise<void> {
    expect((await raw.readClose()).code).toBe(1009);
    await raw.waitEnd();
    await waitFor(() => rec.closes.length === 1, 5000, "the close handler");
    expect(rec.closes[0]!.code).toBe(1009);
    expect(rec.messages).toEqual([]);
    await assertStillServing(rec.server, earlier);
  }

  it("accepts a message of exactly maxPayloadLength, in one frame and in fragments", async () => {
    const { server, messages } = await startRecordingServer(defer, { maxPayloadLength: max });
    const raw = await rawTracked(defer, server.port);
    const one = randomBytes(max);
    raw.send({ opcode: OP.BINARY, payload: one });
    let f = await raw.readDataFrame();
    expect(f.payload.equals(one)).toBe(true);
    const two = randomBytes(max);
    raw.send({ fin: false, opcode: OP.BINARY, payload: two.subarray(0, 500) });
    raw.send({ fin: true, opcode: OP.CONT, payload: two.subarray(500) });
    f = await raw.readDataFrame();
    expect(f.payload.equals(two)).toBe(true);
    expect(messages.map((m) => m.data.length)).toEqual([max, max]);
  });

  it("closes with 1009 on a single frame one byte over the limit", async () => {
    const rec = await startRecordingServer(defer, { maxPayloadLength: max });
    const earlier = await openTracked(defer, urlOf(rec.server));
    const raw = await rawTracked(defer, rec.server.port);
    raw.send({ opcode: OP.BINARY, payload: randomBytes(max + 1) });
    await expectTooBig(rec, raw, earlier);
  });

  it("closes with 1009 on a big text frame", async () => {
    const { server, messages } = await startRecordingServer(defer, { maxPayloadLength: max });
    const raw = await rawTracked(defer, server.port);
    raw.send({ opcode: OP.TEXT, payload: "x".repeat(100_000) });
    expect((await raw.readClose()).code).toBe(1009);
    expect(messages).toEqual([]);
  });

  it("closes with 1009 when fragments that are each small add up to more than the limit", async () => {
    const rec = await startRecordingServer(defer, { maxPayloadLength: max });
    const earlier = await openTracked(defer, urlOf(rec.server));
    const raw = await rawTracked(defer, rec.server.port);
    raw.send({ fin: false, opcode: OP.BINARY, payload: randomBytes(400) });
    raw.send({ fin: false, opcode: OP.CONT, payload: randomBytes(400) });
    raw.send({ fin: false, opcode: OP.CONT, payload: randomBytes(400) });
    raw.send({ fin: true, opcode: OP.CONT, payload: randomBytes(10) });
    await expectTooBig(rec, raw, earlier);
  });

  it("closes with 1009 on fragmented text over the limit, even before the final fragment", async () => {
    const { server, messages } = await startRecordingServer(defer, { maxPayloadLength: max });
    const raw = await rawTracked(defer, server.port);
    raw.send({ fin: false, opcode: OP.TEXT, payload: "a".repeat(600) });
    raw.send({ fin: false, opcode: OP.CONT, payload: "b".repeat(600) });
    // no final fragment: the limit must be enforced as data arrives
    expect((await raw.readClose()).code).toBe(1009);
    expect(messages).toEqual([]);
  });

  it("applies the default limit of 16 MiB: one byte more closes with 1009", { timeout: 30_000 }, async () => {
    const { server, messages } = await startRecordingServer(defer);
    const raw = await rawTracked(defer, server.port);
    raw.send({ opcode: OP.BINARY, payload: Buffer.alloc(16 * 1024 * 1024 + 1) });
    expect((await raw.readClose(20_000)).code).toBe(1009);
    expect(messages).toEqual([]);
  });
});

describe("protocol violations", () => {
  /**
   * The first thing the server answers must be a 1002 close frame (a dropped connection is
   * tolerated); once the client answers it, the TCP connection ends promptly, no message was
   * delivered, and the close handler reports the 1002 the server sent.
   */
  async function expectProtocolError(
    rec: Recording,
    raw: Awaited<ReturnType<typeof rawTracked>>,
    maxLingerMs = 2000,
  ): Promise<void> {
    const f = await raw.readFrame().catch(() => undefined); // undefined: the connection ended
    if (f) {
      expect(
        f.opcode,
        `server answered with opcode ${f.opcode} (${f.payload.toString()}) instead of closing: it accepted the frame`,
      ).toBe(OP.CLOSE);
      expect(f.payload.readUInt16BE(0)).toBe(1002);
      raw.send({ opcode: OP.CLOSE, payload: f.payload.subarray(0, 2) }); // answer it, as a client should
    }
    const t0 = Date.now();
    await raw.waitEnd(8000);
    const lingered = Date.now() - t0;
    expect(rec.messages).toEqual([]);
    await waitFor(() => rec.closes.length === 1, 5000, "the close handler");
    expect(lingered, `the server kept the TCP connection ${lingered} ms after the closing handshake`).toBeLessThan(maxLingerMs);
    if (f) expect(rec.closes[0]!.code, "close handler code (the server sent 1002)").toBe(1002);
  }

  it("closes with 1002 when RSV bits are set without an extension", async () => {
    const rec = await startRecordingServer(defer);
    const raw = await rawTracked(defer, rec.server.port);
    raw.send({ opcode: OP.TEXT, payload: "rsv", rsv: 4 });
    await expectProtocolError(rec, raw);
  });

  it("closes with 1002 on an unknown opcode", async () => {
    const rec = await startRecordingServer(defer);
    const raw = await rawTracked(defer, rec.server.port);
    raw.send({ opcode: 0x3, payload: "reserved" });
    await expectProtocolError(rec, raw);
  });

  it("closes with 1002 on a fragmented control frame", async () => {
    const rec = await startRecordingServer(defer);
    const raw = await rawTracked(defer, rec.server.port);
    raw.send({ fin: false, opcode: OP.PING, payload: "frag" });
    await expectProtocolError(rec, raw);
  });

  it("closes with 1002 on a new data frame while a fragmented message is in progress", async () => {
    const rec = await startRecordingServer(defer);
    const raw = await rawTracked(defer, rec.server.port);
    raw.send({ fin: false, opcode: OP.TEXT, payload: "first" });
    raw.send({ fin: true, opcode: OP.TEXT, payload: "second" });
    await expectProtocolError(rec, raw);
  });
});
