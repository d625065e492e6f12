// Read-side backpressure of a client's stream faces: a slow `for await` loop, or a Duplex
// nobody reads, stops the socket being read (HoldReads -> lws_rx_flow_control) so that TCP
// backpressure reaches the server instead of messages piling up in the client's memory.
// The server offers 32 MiB at once: more than the kernel buffers on loopback hold between
// them, so without the hold all of it arrives while the consumer sleeps.
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { connect, createWebSocketStream, type ClientWebSocket } from "../lib/index.js";
import { useCleanup, withTimeout } from "./helpers.js";

const defer = useCleanup();
const CHUNK = Buffer.alloc(256 * 1024, 7);
const TOTAL = 128; // 32 MiB

async function floodingServer(): Promise<string> {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await once(wss, "listening");
  wss.on("connection", (s) => {
    for (let i = 0; i < TOTAL; i++) s.send(CHUNK);
  });
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  return `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`;
}

async function open(url: string): Promise<{ ws: ClientWebSocket; arrived: () => number }> {
  const ws = await connect(url);
  defer(() => ws.terminate());
  let arrived = 0; // messages the client emitted, consumed or not
  ws.on("message", () => arrived++);
  return { ws, arrived: () => arrived };
}

describe("for await across reconnects", () => {
  it("carries on across a reconnecting client's drop, ending only at the final close", async () => {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await once(wss, "listening");
    defer(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    let n = 0;
    wss.on("connection", (s) => {
      n++;
      s.send(`hello ${n}`);
      if (n === 1) setTimeout(() => s.terminate(), 50);
      else setTimeout(() => s.close(1000, "bye"), 50);
    });
    const ws = await connect(`ws://127.0.0.1:${(wss.address() as { port: number }).port}/`, { reconnect: { retries: 3, minDelay: 20, maxDelay: 40 } });
    defer(() => ws.terminate());
    const got: string[] = [];
    await withTimeout(
      (async () => {
        for await (const { data } of ws) got.push(data.toString());
      })(),
      5000,
      "iteration",
    );
    expect(got).toEqual(["hello 1", "hello 2"]);
  });
});

describe("read-side backpressure", () => {
  it("a slow for-await loop holds the socket: messages stop arriving until it catches up", { timeout: 30_000 }, async () => {
    const { ws, arrived } = await open(await floodingServer());
    let received = 0;
    let arrivedDuringSleep = 0;
    for await (const { data } of ws) {
      received++;
      expect(data.length).toBe(CHUNK.length);
      if (received === 1) {
        const before = arrived();
        await new Promise((resolve) => setTimeout(resolve, 1500)); // the slow consumer
        arrivedDuringSleep = arrived() - before;
      }
      if (received === TOTAL) break;
    }
    // 16 queued, plus what was already read when the hold reached the I/O thread.
    expect(arrivedDuringSleep).toBeLessThan(TOTAL / 2);
    expect(received).toBe(TOTAL);
  });

  it("an unread Duplex holds the socket; reading it resumes the flow to the last byte", { timeout: 30_000 }, async () => {
    const { ws, arrived } = await open(await floodingServer());
    const duplex = createWebSocketStream(ws); // nobody reads it yet
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(arrived()).toBeLessThan(TOTAL / 2);
    let bytes = 0;
    const all = new Promise<void>((resolve) =>
      duplex.on("data", (c: Buffer) => {
        bytes += c.length;
        if (bytes === CHUNK.length * TOTAL) resolve();
      }),
    );
    await withTimeout(all, 20_000, "all data read");
    expect(bytes).toBe(CHUNK.length * TOTAL);
    duplex.destroy();
  });
});
