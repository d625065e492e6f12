// Echo: messages of every kind and size come back unchanged, in order.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ServerWebSocket } from "../lib/index.js";
import {
  nextMessage,
  openTracked,
  sha256,
  startEchoServer,
  startServer,
  urlOf,
  useCleanup,
  waitFor,
  withTimeout,
  deferred,
  type Received,
} from "./helpers.js";

const defer = useCleanup();

/**
 * A fresh echo server sends `payload` (binary for a Buffer, text for a string) back to a fresh
 * client with the same type, length and bytes (sha256). Returns the reply.
 */
async function expectEchoedIntact(payload: Buffer | string, timeoutMs: number): Promise<Received> {
  const server = await startEchoServer(defer);
  const client = await openTracked(defer, urlOf(server), { maxPayload: 64 * 1024 * 1024 });
  const bytes = Buffer.from(payload);
  client.send(payload, { binary: Buffer.isBuffer(payload) });
  const reply = await nextMessage(client, timeoutMs);
  expect(reply.isBinary).toBe(Buffer.isBuffer(payload));
  expect(reply.data.length).toBe(bytes.length);
  expect(sha256(reply.data)).toBe(sha256(bytes));
  return reply;
}

interface Seen {
  data: Buffer;
  isBinary: boolean;
}

/** An echo server that also records what its message handler saw. */
async function recordingEchoServer(options: { maxPayloadLength?: number } = {}) {
  const seen: Seen[] = [];
  const server = await startEchoServer(defer, {
    ...options,
    message(ws, data, isBinary) {
      seen.push({ data: Buffer.from(data), isBinary });
      ws.send(data, isBinary);
    },
  });
  return { server, seen };
}

describe("echo", () => {
  it("echoes a text message: the handler gets isBinary false and the string round-trips", async () => {
    const { server, seen } = await recordingEchoServer();
    const client = await openTracked(defer, urlOf(server));
    const text = "héllo wörld ✓ 𝄞 — ascii and astral";
    client.send(text);
    const reply = await nextMessage(client);
    expect(reply.isBinary).toBe(false);
    expect(reply.data.toString("utf8")).toBe(text);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.isBinary).toBe(false);
    expect(Buffer.isBuffer(seen[0]!.data)).toBe(true);
    expect(seen[0]!.data.toString("utf8")).toBe(text);
  });

  it("echoes a binary message: the handler gets isBinary true and the bytes are equal", async () => {
    const { server, seen } = await recordingEchoServer();
    const client = await openTracked(defer, urlOf(server));
    const bytes = randomBytes(1000);
    bytes[0] = 0xff; // not valid UTF-8, to be sure nothing treats it as text
    client.send(bytes, { binary: true });
    const reply = await nextMessage(client);
    expect(reply.isBinary).toBe(true);
    expect(reply.data.equals(bytes)).toBe(true);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.isBinary).toBe(true);
    expect(seen[0]!.data.equals(bytes)).toBe(true);
  });

  it("echoes an empty text message", async () => {
    const { server, seen } = await recordingEchoServer();
    const client = await openTracked(defer, urlOf(server));
    client.send("");
    const reply = await nextMessage(client);
    expect(reply.isBinary).toBe(false);
    expect(reply.data.length).toBe(0);
    expect(seen).toEqual([{ data: Buffer.alloc(0), isBinary: false }]);
  });

  it("echoes an empty binary message", async () => {
    const { server, seen } = await recordingEchoServer();
    const client = await openTracked(defer, urlOf(server));
    client.send(Buffer.alloc(0), { binary: true });
    const reply = await nextMessage(client);
    expect(reply.isBinary).toBe(true);
    expect(reply.data.length).toBe(0);
    expect(seen).toEqual([{ data: Buffer.alloc(0), isBinary: true }]);
  });

  it("an empty message is followed by a non-empty one, both in order", async () => {
    const server = await startEchoServer(defer);
    const client = await openTracked(defer, urlOf(server));
    client.send("");
    client.send("after");
    client.send(Buffer.alloc(0), { binary: true });
    client.send(Buffer.from([1, 2, 3]), { binary: true });
    const replies: Received[] = [];
    for (let i = 0; i < 4; i++) replies.push(await nextMessage(client));
    expect(replies.map((r) => [r.data.toString("hex"), r.isBinary])).toEqual([
      ["", false],
      [Buffer.from("after").toString("hex"), false],
      ["", true],
      ["010203", true],
    ]);
  });

  it("echoes a 1 MiB binary message intact", { timeout: 20_000 }, async () => {
    await expectEchoedIntact(randomBytes(1024 * 1024), 10_000);
  });

  it("echoes a 16 MiB binary message (exactly the default maxPayloadLength) intact", { timeout: 40_000 }, async () => {
    await expectEchoedIntact(randomBytes(16 * 1024 * 1024), 30_000);
  });

  it("echoes a 1 MiB text message intact", { timeout: 20_000 }, async () => {
    const text = "añ€𝄞".repeat(1024 * 1024 / 10); // 10 bytes each: 1 MiB of multi-byte UTF-8
    const reply = await expectEchoedIntact(text, 10_000);
    expect(reply.data.toString("utf8") === text).toBe(true);
  });

  it("keeps 10,000 pipelined small messages in order", { timeout: 30_000 }, async () => {
    const server = await startEchoServer(defer);
    const client = await openTracked(defer, urlOf(server));
    const n = 10_000;
    const got: string[] = [];
    const done = deferred();
    client.on("message", (data: Buffer, isBinary: boolean) => {
      got.push((isBinary ? "b:" : "t:") + data.toString());
      if (got.length === n) done.resolve();
    });
    for (let i = 0; i < n; i++) {
      if (i % 3 === 0) client.send(Buffer.from(`m${i}`), { binary: true });
      else client.send(`m${i}`);
    }
    await withTimeout(done.promise, 25_000, `${n} echoes (got ${got.length})`).catch((err) => {
      throw new Error(`${(err as Error).message}; received ${got.length}`);
    });
    const expected = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? "b:" : "t:") + `m${i}`);
    // Compare the first mismatch, not a 10,000-element diff.
    const firstBad = got.findIndex((m, i) => m !== expected[i]);
    expect(firstBad, `first out-of-order message at ${firstBad}: ${got[firstBad]} vs ${expected[firstBad]}`).toBe(-1);
    expect(got.length).toBe(n);
  });

  it("keeps each socket's ws.data, set in open, and sees it in message", async () => {
    let nextId = 0;
    const opened: ServerWebSocket<{ id: number; count: number }>[] = [];
    const initialData: unknown[] = [];
    const server = await startServer<{ id: number; count: number }>(defer, {
      open(ws) {
        initialData.push(ws.data);
        ws.data = { id: ++nextId, count: 0 };
        opened.push(ws);
      },
      message(ws, data) {
        ws.data.count++;
        ws.send(`${ws.data.id}:${ws.data.count}:${data.toString()}`);
      },
    });
    const a = await openTracked(defer, urlOf(server));
    const b = await openTracked(defer, urlOf(server));
    const ask = async (c: typeof a, text: string) => {
      c.send(text);
      return (await nextMessage(c)).data.toString();
    };
    const a1 = await ask(a, "x");
    const b1 = await ask(b, "y");
    const a2 = await ask(a, "z");
    const b2 = await ask(b, "w");
    const idA = a1.split(":")[0];
    const idB = b1.split(":")[0];
    expect(idA).not.toBe(idB);
    expect([a1, a2]).toEqual([`${idA}:1:x`, `${idA}:2:z`]);
    expect([b1, b2]).toEqual([`${idB}:1:y`, `${idB}:2:w`]);
    expect(opened).toHaveLength(2);
    expect(initialData).toEqual([undefined, undefined]);
    expect(opened[0]).not.toBe(opened[1]);
  });

  it("the handlers get the same ServerWebSocket object for one connection", async () => {
    const objects: { open?: ServerWebSocket; message?: ServerWebSocket; close?: ServerWebSocket } = {};
    const server = await startServer(defer, {
      open(ws) {
        objects.open = ws;
      },
      message(ws) {
        objects.message = ws;
        ws.close();
      },
      close(ws) {
        objects.close = ws;
      },
    });
    const client = await openTracked(defer, urlOf(server));
    client.send("hi");
    await waitFor(() => objects.close !== undefined, 5000, "the close handler");
    expect(objects.open).toBeDefined();
    expect(objects.message).toBe(objects.open);
    expect(objects.close).toBe(objects.open);
  });

  it("reports remoteAddress 127.0.0.1 for a loopback client", async () => {
    const addresses: string[] = [];
    const server = await startServer(defer, {
      open(ws) {
        addresses.push(ws.remoteAddress);
      },
      message(ws) {
        ws.send(ws.remoteAddress);
      },
    });
    const client = await openTracked(defer, urlOf(server));
    client.send("who am i");
    const reply = await nextMessage(client);
    expect(reply.data.toString()).toBe("127.0.0.1");
    expect(addresses).toEqual(["127.0.0.1"]);
  });

  it("reports the client's IPv4 address when listening on every interface", async () => {
    const server = await startServer(defer, {
      host: undefined,
      message(ws) {
        ws.send(ws.remoteAddress);
      },
    });
    expect(server.host).toBe("");
    const client = await openTracked(defer, urlOf(server));
    client.send("who am i");
    const reply = await nextMessage(client);
    // A dual-stack socket may see the v4-mapped form; anything else is wrong.
    expect(["127.0.0.1", "::ffff:127.0.0.1"]).toContain(reply.data.toString());
  });

  it("echoes between several clients without mixing their messages", async () => {
    const server = await startEchoServer(defer);
    const clients = await Promise.all(Array.from({ length: 5 }, () => openTracked(defer, urlOf(server))));
    clients.forEach((c, i) => {
      for (let j = 0; j < 20; j++) c.send(`c${i}-${j}`);
    });
    for (const [i, c] of clients.entries()) {
      const got: string[] = [];
      for (let j = 0; j < 20; j++) got.push((await nextMessage(c)).data.toString());
      expect(got).toEqual(Array.from({ length: 20 }, (_, j) => `c${i}-${j}`));
    }
  });
});
