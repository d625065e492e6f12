// permessage-deflate (RFC 7692): negotiation, compressed round trips, the threshold and the
// per-send flag, shared compressed publishes, declined offers and decompression limits.
import { randomBytes } from "node:crypto";
import { constants, deflateRawSync, inflateRawSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { type ServerWebSocket, SendStatus } from "../lib/index.js";
import {
  OP,
  type RawClient,
  closed,
  createServerRejection,
  nextMessage,
  openTracked,
  rawTracked,
  startEchoServer,
  startServer,
  urlOf,
  useCleanup,
  waitFor,
} from "./helpers.js";

const defer = useCleanup();

const OFFER = "permessage-deflate; client_max_window_bits";
const RSV1 = 4;

/** What a client does with a compressed message: append the sync-flush tail and inflate. */
function inflateMessage(payload: Buffer): Buffer {
  return inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: constants.Z_SYNC_FLUSH });
}

/** A client's compressed message: raw deflate, sync flush, tail removed. */
function deflateMessage(data: Buffer): Buffer {
  const out = deflateRawSync(data, { finishFlush: constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

/** A raw client whose upgrade offers `offer` (by default: permessage-deflate; client_max_window_bits). */
function rawDeflateClient(port: number, offer = OFFER): Promise<RawClient> {
  return rawTracked(defer, port, "/", { "Sec-WebSocket-Extensions": offer });
}

/** Compressible text: repetitive, but not trivially so. */
function text(bytes: number): string {
  const words = ["alpha", "beta", "gamma", "delta", "price", "quote", "tick", "book"];
  let s = "";
  for (let i = 0; s.length < bytes; i++) s += `${words[i % 8]}:${i % 97} `;
  return s.slice(0, bytes);
}

describe("permessage-deflate negotiation", () => {
  it("is off by default: a client offering it gets no extension", async () => {
    const server = await startEchoServer(defer);
    const raw = await rawDeflateClient(server.port);
    expect(raw.responseHeaders.get("sec-websocket-extensions")).toBeUndefined();
    const client = await openTracked(defer, urlOf(server), { perMessageDeflate: true });
    expect(client.extensions).toBe("");
  });

  it("is accepted from a client that offers it, and echo round trips stay exact both ways", async () => {
    const server = await startEchoServer(defer, { perMessageDeflate: true });
    const client = await openTracked(defer, urlOf(server), { perMessageDeflate: { threshold: 0 } });
    expect(client.extensions).toContain("permessage-deflate");
    const big = text(200_000);
    const binary = randomBytes(70_000); // incompressible: goes out uncompressed
    client.send(big);
    client.send("short");
    client.send(binary);
    const a = await nextMessage(client);
    const b = await nextMessage(client);
    const c = await nextMessage(client);
    expect([a.isBinary, a.data.toString()]).toEqual([false, big]);
    expect([b.isBinary, b.data.toString()]).toEqual([false, "short"]);
    expect(c.isBinary).toBe(true);
    expect(Buffer.compare(c.data, binary)).toBe(0);
  });

  it("is negotiated on handshakes that went through the upgrade hook", async () => {
    const server = await startEchoServer(defer, { perMessageDeflate: true, upgrade: async () => ({ data: 1 }) });
    const client = await openTracked(defer, urlOf(server), { perMessageDeflate: { threshold: 0 } });
    expect(client.extensions).toBe("permessage-deflate");
    client.send(text(20_000));
    expect((await nextMessage(client)).data.toString()).toBe(text(20_000));
  });

  it("accepts an offer that limits the server's window and compresses with that window", async () => {
    const server = await startEchoServer(defer, { perMessageDeflate: true });
    const raw = await rawDeflateClient(server.port, "permessage-deflate; server_max_window_bits=10");
    expect(raw.responseHeaders.get("sec-websocket-extensions")).toBe(
      "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
    );
    raw.send({ opcode: OP.TEXT, payload: text(5000) });
    const m = await raw.readDataFrame();
    expect(m.rsv).toBe(4);
    // A 10-bit inflater: a wider window would fail with "invalid distance too far back".
    const inflated = inflateRawSync(Buffer.concat([m.payload, Buffer.from([0, 0, 0xff, 0xff])]), { windowBits: 10, finishFlush: constants.Z_SYNC_FLUSH });
    expect(inflated.toString()).toBe(text(5000));
  });

  it("declines an offer with an unknown parameter and accepts the next one", async () => {
    const server = await startEchoServer(defer, { perMessageDeflate: true });
    const raw = await rawDeflateClient(server.port, "permessage-deflate; foo, permessage-deflate; client_no_context_takeover");
    expect(raw.responseHeaders.get("sec-websocket-extensions")).toBe(
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    );
  });

  it("keeps working past the second message when only server_no_context_takeover is offered (python websockets)", async () => {
    const server = await startEchoServer(defer, { perMessageDeflate: true });
    const client = await openTracked(defer, urlOf(server), {
      perMessageDeflate: { serverNoContextTakeover: true, threshold: 0 },
    });
    for (let i = 0; i < 5; i++) {
      const msg = text(3000);  // the same message: the client's context makes later ones tiny
      client.send(msg);
      expect((await nextMessage(client)).data.toString()).toBe(msg);
    }
  });

  it("accepts client_no_context_takeover and server_no_context_takeover offers", async () => {
    const server = await startEchoServer(defer, { perMessageDeflate: true });
    const raw = await rawDeflateClient(server.port, "permessage-deflate; client_no_context_takeover; server_no_context_takeover");
    expect(raw.responseHeaders.get("sec-websocket-extensions")).toBe(
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    );
    const client = await openTracked(defer, urlOf(server), {
      perMessageDeflate: { clientNoContextTakeover: true, serverNoContextTakeover: true, threshold: 0 },
    });
    expect(client.extensions).toBe("permessage-deflate");
    for (let i = 0; i < 5; i++) {
      const msg = text(3000 + i);
      client.send(msg);
      expect((await nextMessage(client)).data.toString()).toBe(msg);
    }
  });
});

describe("compressed sends", () => {
  it("compresses a message at or above the threshold and sends shorter ones as they are", async () => {
    const big = text(4096);
    const server = await startServer(defer, {
      perMessageDeflate: { threshold: 1000 },
      open(ws) {
        ws.send(text(999));
        ws.send(big);
      },
    });
    const raw = await rawDeflateClient(server.port);
    expect(raw.responseHeaders.get("sec-websocket-extensions")).toMatch(/^permessage-deflate/);
    const small = await raw.readDataFrame();
    expect(small.rsv).toBe(0);
    expect(small.payload.toString()).toBe(text(999));
    const compressed = await raw.readDataFrame();
    expect(compressed.rsv).toBe(RSV1);
    expect(compressed.opcode).toBe(OP.TEXT);
    expect(compressed.payload.length).toBeLessThan(big.length / 2);
    expect(inflateMessage(compressed.payload).toString()).toBe(big);
  });

  it("send(data, isBinary, false) sends that message uncompressed", async () => {
    const msg = Buffer.from(text(8000));
    const server = await startServer(defer, {
      perMessageDeflate: true,
      open(ws) {
        ws.send(msg, true, false);
        ws.send(msg, true);
      },
    });
    const raw = await rawDeflateClient(server.port);
    const plain = await raw.readDataFrame();
    expect([plain.rsv, plain.opcode]).toEqual([0, OP.BINARY]);
    expect(Buffer.compare(plain.payload, msg)).toBe(0);
    const packed = await raw.readDataFrame();
    expect([packed.rsv, packed.opcode]).toEqual([RSV1, OP.BINARY]);
    expect(Buffer.compare(inflateMessage(packed.payload), msg)).toBe(0);
  });

  it("compresses every message on its own, so each inflates with a fresh window", async () => {
    const server = await startServer(defer, {
      perMessageDeflate: { threshold: 0 },
      open(ws) {
        for (let i = 0; i < 3; i++) ws.send(text(2000)); // identical: context takeover would shrink #2 and #3
      },
    });
    const raw = await rawDeflateClient(server.port);
    const frames = [await raw.readDataFrame(), await raw.readDataFrame(), await raw.readDataFrame()];
    for (const f of frames) {
      expect(f.rsv).toBe(RSV1);
      expect(inflateMessage(f.payload).toString()).toBe(text(2000));
    }
    expect(frames[2]!.payload.length).toBe(frames[0]!.payload.length);
  });

  it("a compressed message larger than one fragment arrives whole, RSV1 on its first frame only", async () => {
    // Random base64 compresses to about 3/4: well over the 256 KiB fragment size.
    const big = randomBytes(1_500_000).toString("base64");
    const server = await startServer(defer, {
      perMessageDeflate: true,
      open(ws) {
        ws.send(big);
      },
    });
    const raw = await rawDeflateClient(server.port);
    const parts: Buffer[] = [];
    const first = await raw.readFrame();
    expect([first.rsv, first.opcode, first.fin]).toEqual([RSV1, OP.TEXT, false]);
    parts.push(first.payload);
    for (;;) {
      const f = await raw.readFrame();
      expect([f.rsv, f.opcode]).toEqual([0, OP.CONT]);
      parts.push(f.payload);
      if (f.fin) break;
    }
    expect(inflateMessage(Buffer.concat(parts)).toString()).toBe(big);
  });

  it("bufferedAmount and stats count the uncompressed bytes, and return to zero", async () => {
    const sockets: ServerWebSocket[] = [];
    const server = await startServer(defer, {
      perMessageDeflate: true,
      open(ws) {
        sockets.push(ws);
      },
    });
    const client = await openTracked(defer, urlOf(server), { perMessageDeflate: true });
    await waitFor(() => sockets.length === 1, 5000, "open");
    const ws = sockets[0]!;
    const msg = text(50_000);
    expect(ws.send(msg)).toBe(SendStatus.SUCCESS);
    expect([0, 50_000]).toContain(ws.bufferedAmount); // whole message or already written, never the compressed size
    expect((await nextMessage(client)).data.toString()).toBe(msg);
    await waitFor(() => ws.bufferedAmount === 0, 5000, "bufferedAmount back to 0");
    expect(server.stats().bytesOut).toBe(50_000);
    expect(server.stats().queuedBytes).toBe(0);
  });
});

describe("compressed publish", () => {
  it("one publish reaches compressing and plain subscribers alike, each in its own form", async () => {
    const server = await startServer(defer, {
      perMessageDeflate: true,
      open(ws) {
        ws.subscribe("feed");
      },
    });
    const packed = [await rawDeflateClient(server.port), await rawDeflateClient(server.port)];
    const plain = await rawTracked(defer, server.port);
    await waitFor(() => server.subscriberCount("feed") === 3, 5000, "3 subscribers");
    const msgs = [text(3000), text(6000), text(9000)];
    for (const m of msgs) server.publish("feed", m);
    for (const raw of packed) {
      for (const m of msgs) {
        const f = await raw.readDataFrame();
        expect(f.rsv).toBe(RSV1);
        expect(inflateMessage(f.payload).toString()).toBe(m);
      }
    }
    for (const m of msgs) {
      const f = await plain.readDataFrame();
      expect(f.rsv).toBe(0);
      expect(f.payload.toString()).toBe(m);
    }
  });

  it("broadcast(data, isBinary, false) goes out uncompressed", async () => {
    const server = await startServer(defer, { perMessageDeflate: true });
    const raw = await rawDeflateClient(server.port);
    await waitFor(() => server.stats().connections === 1, 5000, "connected");
    server.broadcast(text(5000), false, false);
    const f = await raw.readDataFrame();
    expect(f.rsv).toBe(0);
    expect(f.payload.toString()).toBe(text(5000));
  });
});

describe("compressed input", () => {
  it("inflates a client's compressed fragments into one message", async () => {
    const received: string[] = [];
    const server = await startServer(defer, {
      perMessageDeflate: true,
      message(_ws, data) {
        received.push(data.toString());
      },
    });
    const raw = await rawDeflateClient(server.port);
    const msg = text(30_000);
    const z = deflateMessage(Buffer.from(msg));
    const cut = Math.floor(z.length / 2);
    raw.send({ opcode: OP.TEXT, payload: z.subarray(0, cut), fin: false, rsv: RSV1 });
    raw.send({ opcode: OP.CONT, payload: z.subarray(cut) });
    await waitFor(() => received.length === 1, 5000, "the message");
    expect(received[0]).toBe(msg);
  });

  it("closes with 1009 when a message inflates beyond maxPayloadLength (a zip bomb)", async () => {
    const closes: number[] = [];
    const server = await startServer(defer, {
      perMessageDeflate: true,
      maxPayloadLength: 100_000,
      close(_ws, code) {
        closes.push(code);
      },
    });
    const raw = await rawDeflateClient(server.port);
    const bomb = deflateMessage(Buffer.alloc(10_000_000)); // ~10 KB on the wire
    expect(bomb.length).toBeLessThan(20_000);
    raw.send({ opcode: OP.BINARY, payload: bomb, rsv: RSV1 });
    const close = await raw.readClose();
    expect(close.code).toBe(1009);
    await waitFor(() => closes.length === 1, 5000, "close handler");
    expect(closes).toEqual([1009]);
  });

  it("a client's compressed message of invalid UTF-8 closes with 1007", async () => {
    const server = await startServer(defer, { perMessageDeflate: true });
    const raw = await rawDeflateClient(server.port);
    raw.send({ opcode: OP.TEXT, payload: deflateMessage(Buffer.from([0x61, 0xff, 0xfe, 0x62])), rsv: RSV1 });
    expect((await raw.readClose()).code).toBe(1007);
  });
});

describe("perMessageDeflate option", () => {
  it("rejects bad values with typed errors", async () => {
    const bad = (value: unknown): Promise<Error & { code?: string }> =>
      createServerRejection(defer, { perMessageDeflate: value as never });
    expect((await bad("yes")).code).toBe("ERR_INVALID_ARG_TYPE");
    expect((await bad({ level: 0 })).code).toBe("ERR_OUT_OF_RANGE");
    expect((await bad({ threshold: -1 })).code).toBe("ERR_OUT_OF_RANGE");
    expect((await bad({ windowBits: 10 })).code).toBe("ERR_INVALID_ARG_TYPE");
  });

  it("a ws client without the extension still talks to a deflate server", async () => {
    const server = await startEchoServer(defer, { perMessageDeflate: true });
    const client = await openTracked(defer, urlOf(server), { perMessageDeflate: false });
    expect(client.extensions).toBe("");
    client.send(text(10_000));
    expect((await nextMessage(client)).data.toString()).toBe(text(10_000));
    client.close(1000);
    expect((await closed(client)).code).toBe(1000);
  });
});
