// Load: many concurrent connections on loopback, every message verified.
import { describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { closed, nextMessage, openClient, startEchoServer, urlOf, useCleanup, waitFor, withTimeout } from "./helpers.js";

const defer = useCleanup();

describe("load", () => {
  it("1,000 concurrent clients each connect and echo 10 messages, all verified", { timeout: 60_000 }, async () => {
    const N = 1000;
    const M = 10;
    let opens = 0;
    let closes = 0;
    let peak = 0;
    const server = await startEchoServer(defer, {
      open() {
        opens++;
      },
      close() {
        closes++;
      },
      message(ws, data, isBinary) {
        peak = Math.max(peak, server.connections);
        ws.send(data, isBinary);
      },
    });
    const clients: WebSocket[] = [];
    defer(() => {
      for (const c of clients) c.terminate();
    });

    // Connect all of them at once; every one must succeed.
    const settled = await withTimeout(
      Promise.allSettled(Array.from({ length: N }, () => openClient(urlOf(server), {}, 30_000))),
      40_000,
      `${N} connections`,
    );
    const failures: string[] = [];
    for (const s of settled) {
      if (s.status === "fulfilled") clients.push(s.value);
      else failures.push(String((s.reason as Error).message));
    }
    expect(failures.length, `failed connections, first: ${failures[0]}`).toBe(0);
    await waitFor(() => opens === N, 10_000, `${N} open handlers (saw ${opens})`);
    expect(server.connections).toBe(N);

    // Every client pipelines its 10 messages (text and binary mixed), then checks each reply.
    const bad: string[] = [];
    await withTimeout(
      Promise.all(
        clients.map(async (c, i) => {
          const expected: { text: string; binary: boolean }[] = [];
          for (let j = 0; j < M; j++) {
            const text = `client ${i} message ${j} ${"x".repeat((i * 7 + j) % 50)}`;
            const binary = j % 2 === 1;
            expected.push({ text, binary });
            c.send(binary ? Buffer.from(text) : text, { binary });
          }
          for (let j = 0; j < M; j++) {
            const reply = await nextMessage(c, 30_000);
            const want = expected[j]!;
            if (reply.isBinary !== want.binary || reply.data.toString() !== want.text) {
              bad.push(`client ${i} #${j}: got ${reply.isBinary ? "binary" : "text"} "${reply.data.toString()}"`);
            }
          }
        }),
      ),
      40_000,
      `${N * M} echoes`,
    );
    expect(bad, bad.slice(0, 5).join("\n")).toEqual([]);
    // All connections were open at once while echoing.
    expect(peak).toBe(N);

    // Close them all; every close reaches the server.
    for (const c of clients) c.close(1000, "load done");
    const codes = await withTimeout(Promise.all(clients.map((c) => closed(c, 20_000))), 25_000, "all clients closed");
    expect(codes.filter((c) => c.code !== 1000)).toEqual([]);
    await waitFor(() => closes === N, 10_000, `${N} close handlers (saw ${closes})`);
    expect(server.connections).toBe(0);
  });
});
