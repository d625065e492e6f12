// Large messages: lws reads up to its 256 KiB thread buffer at a time and hands a frame's
// payload on in as few pieces as a read brings (lws patch 1000); messages larger than that
// span reads and are reassembled natively, and messages larger than 256 KiB leave as
// fragments written straight from the shared frame. Whatever the sizes, every message
// arrives whole, byte for byte, in order.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ServerWebSocket } from "../lib/index.js";
import {
  OP,
  frame,
  nextMessage,
  openTracked,
  rawTracked,
  sha256,
  sleep,
  startServer,
  urlOf,
  useCleanup,
  waitFor,
} from "./helpers.js";

const defer = useCleanup();

interface Seen {
  isBinary: boolean;
  length: number;
  hash: string;
}

const seenOf = (data: Uint8Array | string, isBinary: boolean): Seen => {
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  return { isBinary, length: bytes.length, hash: sha256(bytes) };
};

/** An echo server that also records, in order, what its message handler saw. */
async function recordingEcho(perMessageDeflate: boolean) {
  const seen: Seen[] = [];
  const server = await startServer(defer, {
    perMessageDeflate,
    maxPayloadLength: 8 * 1024 * 1024,
    message(ws, data, isBinary) {
      seen.push(seenOf(new Uint8Array(data), isBinary));
      ws.send(data, isBinary);
    },
  });
  return { server, seen };
}

// A sequence that interleaves messages below, at and far above the 256 KiB read buffer (and
// not multiples of 4 KiB, so no piece boundary lines up with a read), text among them so the
// UTF-8 validator meets characters split across reads.
function mixedSequence(): { data: Buffer | string; isBinary: boolean }[] {
  const multiByte = "añ€𝄞".repeat(70_000); // 700,000 bytes of 2-, 3- and 4-byte characters
  return [
    { data: Buffer.from("small one"), isBinary: true },
    { data: randomBytes(1024 * 1024 + 7), isBinary: true },
    { data: "x", isBinary: false },
    { data: multiByte, isBinary: false },
    { data: randomBytes(256 * 1024), isBinary: true },
    { data: randomBytes(3), isBinary: true },
    { data: randomBytes(3 * 1024 * 1024 + 1), isBinary: true },
    { data: "last small", isBinary: false },
  ];
}

describe.each([
  ["without permessage-deflate", false],
  ["with permessage-deflate", true],
])("large messages %s", (_name, deflate) => {
  it("arrive whole and in order, interleaved with small ones, and echo back intact", { timeout: 60_000 }, async () => {
    const { server, seen } = await recordingEcho(deflate);
    const client = await openTracked(defer, urlOf(server), {
      perMessageDeflate: deflate ? { threshold: 0 } : false,
      maxPayload: 8 * 1024 * 1024,
    });
    expect(client.extensions.includes("permessage-deflate")).toBe(deflate);
    const sent = mixedSequence();
    for (const m of sent) client.send(m.data, { binary: m.isBinary });
    const replies = [];
    for (let i = 0; i < sent.length; ++i) replies.push(await nextMessage(client, 30_000));

    const expected = sent.map((m) => seenOf(m.data, m.isBinary));
    expect(seen).toEqual(expected);
    expect(replies.map((r) => seenOf(r.data, r.isBinary))).toEqual(expected);
  });
});

describe("large messages from a raw client", () => {
  it("a 1 MiB frame trickled in small writes after its header arrives whole", { timeout: 30_000 }, async () => {
    const { server, seen } = await recordingEcho(false);
    const raw = await rawTracked(defer, server.port);
    const payload = randomBytes(1024 * 1024);
    const wire = frame({ opcode: OP.BINARY, payload });
    // The header and 100 bytes first: the frame announces 1 MiB, far more than has arrived.
    raw.write(wire.subarray(0, 110));
    await sleep(50);
    for (let at = 110; at < wire.length; at += 200_000) {
      raw.write(wire.subarray(at, Math.min(wire.length, at + 200_000)));
      await sleep(5);
    }
    const reply = await raw.readMessage(20_000);
    expect(seen).toEqual([seenOf(payload, true)]);
    expect(reply.opcode).toBe(OP.BINARY);
    expect(sha256(reply.payload)).toBe(sha256(payload));
  });

  it("a message fragmented across several large frames, with a ping between them, arrives whole", { timeout: 30_000 }, async () => {
    const { server, seen } = await recordingEcho(false);
    const raw = await rawTracked(defer, server.port);
    const payload = randomBytes(1_000_003);
    const cuts = [0, 300_001, 600_002, payload.length];
    raw.send({ fin: false, opcode: OP.BINARY, payload: payload.subarray(cuts[0], cuts[1]) });
    raw.send({ opcode: OP.PING, payload: Buffer.from("between") });
    raw.send({ fin: false, opcode: OP.CONT, payload: payload.subarray(cuts[1], cuts[2]) });
    raw.send({ opcode: OP.CONT, payload: payload.subarray(cuts[2], cuts[3]) });
    raw.send({ opcode: OP.TEXT, payload: Buffer.from("after") });

    const pong = await raw.readFrame(20_000);
    expect([pong.opcode, pong.payload.toString()]).toEqual([OP.PONG, "between"]);
    const echoed = await raw.readMessage(20_000);
    const after = await raw.readMessage(20_000);
    expect(seen).toEqual([seenOf(payload, true), seenOf("after", false)]);
    expect(sha256(echoed.payload)).toBe(sha256(payload));
    expect(after.payload.toString()).toBe("after");
  });

  it("a frame announcing more than maxPayloadLength is refused with 1009 before its payload arrives", async () => {
    const server = await startServer(defer, { maxPayloadLength: 512 * 1024, message() {} });
    const raw = await rawTracked(defer, server.port);
    // Header of a 64 MiB masked binary frame, then only 1,000 bytes of it.
    const header = Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0x04, 0, 0, 0, 1, 2, 3, 4]);
    raw.write(Buffer.concat([header, randomBytes(1000)]));
    const close = await raw.readClose();
    expect(close.code).toBe(1009);
  });
});

describe("large outbound messages", () => {
  it("a publish larger than a fragment reaches every subscriber byte for byte, as 256 KiB fragments", { timeout: 30_000 }, async () => {
    const sockets: ServerWebSocket[] = [];
    const server = await startServer(defer, { open: (ws) => void sockets.push(ws) });
    const a = await rawTracked(defer, server.port);
    const b = await rawTracked(defer, server.port);
    const c = await rawTracked(defer, server.port);
    await waitFor(() => sockets.length === 3, 5000, "three opens");
    for (const ws of sockets) ws.subscribe("big");
    // b stops reading: its writes are refused part way and finish from WRITEABLE later.
    b.socket.pause();
    const payloads = [randomBytes(700_003), randomBytes(2 * 1024 * 1024)];
    for (const p of payloads) server.publish("big", p, true);
    for (const raw of [a, c]) {
      for (const p of payloads) {
        const m = await raw.readMessage(20_000);
        expect(m.opcode).toBe(OP.BINARY);
        expect(m.fragments).toBe(Math.ceil(p.length / (256 * 1024)));
        expect(sha256(m.payload)).toBe(sha256(p));
      }
    }
    await sleep(100);
    b.socket.resume();
    for (const p of payloads) {
      const m = await b.readMessage(20_000);
      expect(sha256(m.payload)).toBe(sha256(p));
    }
  });

  it("sends of large messages to one socket leave in order with small ones between", { timeout: 30_000 }, async () => {
    const sockets: ServerWebSocket[] = [];
    const server = await startServer(defer, { open: (ws) => void sockets.push(ws) });
    const client = await openTracked(defer, urlOf(server), { maxPayload: 8 * 1024 * 1024 });
    await waitFor(() => sockets.length === 1, 5000, "the open handler");
    const sent = mixedSequence();
    for (const m of sent) sockets[0]!.send(m.data, m.isBinary);
    const got = [];
    for (let i = 0; i < sent.length; ++i) got.push(await nextMessage(client, 20_000));
    expect(got.map((r) => seenOf(r.data, r.isBinary))).toEqual(sent.map((m) => seenOf(m.data, m.isBinary)));
  });
});
