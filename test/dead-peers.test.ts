// Slow and dead peers: connections that stop in the middle of a handshake or a frame, or whose
// process is frozen, hold no resources beyond the configured timeouts. heartbeat.test.ts and
// limits.test.ts cover one silent client and one slowloris; backpressure.test.ts covers a client
// that stops reading. This file covers many at once and peers that die mid-frame.
import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { OP, ROOT, expectStillServing, frame, rawTracked, requireDist, startServer, useCleanup, waitFor } from "./helpers.js";

beforeAll(requireDist);
const defer = useCleanup();

const upgrade =
  "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

function tcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => resolve(s));
    s.on("error", reject);
    defer(() => s.destroy());
  });
}

const ended = (s: Socket): Promise<void> => new Promise((resolve) => (s.destroyed ? resolve() : s.once("close", () => resolve())));

describe("slowloris at scale", () => {
  it("100 connections trickling their upgrade request are all dropped after handshakeTimeout; a client is served meanwhile", { timeout: 20_000 }, async () => {
    const server = await startServer(defer, { handshakeTimeout: 1000, message: (ws, d, b) => ws.send(d, b) });
    const sockets = await Promise.all(Array.from({ length: 100 }, () => tcp(server.port)));
    const t0 = Date.now();
    let i = 0;
    const trickle = setInterval(() => {
      for (const s of sockets) if (!s.destroyed) s.write(upgrade[i % upgrade.length]!);
      i++;
    }, 100);
    defer(() => clearInterval(trickle));
    await expectStillServing(defer, server);
    await Promise.all(sockets.map(ended));
    const ms = Date.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(900);
    expect(ms).toBeLessThan(4000);
    expect(server.stats().connectionsTotal).toBe(1); // only the well-behaved client upgraded
    await expectStillServing(defer, server);
  });

  it("connections that open TCP and send nothing are dropped after handshakeTimeout", { timeout: 15_000 }, async () => {
    const server = await startServer(defer, { handshakeTimeout: 1000, message: (ws, d, b) => ws.send(d, b) });
    const sockets = await Promise.all(Array.from({ length: 50 }, () => tcp(server.port)));
    const t0 = Date.now();
    await Promise.all(sockets.map(ended));
    expect(Date.now() - t0).toBeLessThan(4000);
    await expectStillServing(defer, server);
  });
});

describe("peers that vanish without closing", () => {
  it("peers silent in the middle of a frame are pinged and freed after idleTimeout (1006)", { timeout: 20_000 }, async () => {
    const closes: number[] = [];
    const server = await startServer(defer, { idleTimeout: 2000, close: (_ws, code) => closes.push(code), message: (ws, d, b) => ws.send(d, b) });
    const raws = await Promise.all(Array.from({ length: 20 }, () => rawTracked(defer, server.port)));
    raws.forEach((raw, i) => {
      const f = frame({ opcode: OP.BINARY, payload: Buffer.alloc(1000, i) });
      raw.write(f.subarray(0, 1 + (i % 10) * 50)); // stop somewhere in the header, key or payload
    });
    await waitFor(() => server.connections === 20, 5000, "20 open connections");
    const t0 = Date.now();
    await waitFor(() => closes.length === 20, 8000, "every silent peer to be closed");
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(closes.every((c) => c === 1006)).toBe(true);
    expect(server.connections).toBe(0);
    expect(server.stats().queuedBytes).toBe(0);
    await expectStillServing(defer, server);
  });

  it(
    "a client process frozen with SIGSTOP while the server sends to it is dropped after idleTimeout and its queue freed",
    { timeout: 30_000 },
    async () => {
      const closes: number[] = [];
      let first = true;
      const server = await startServer(defer, {
        idleTimeout: 2000,
        message: (ws, d, b) => ws.send(d, b),
        open(ws) {
          if (!first) return;
          first = false;
          // Keep sending 64 KiB every 20 ms to the first client: the frozen peer reads none of it.
          const chunk = Buffer.alloc(64 * 1024, 7);
          const timer = setInterval(() => ws.send(chunk, true), 20);
          ws.data = timer;
        },
        close(ws, code) {
          clearInterval(ws.data as NodeJS.Timeout);
          closes.push(code);
        },
      });
      const child = spawn(
        process.execPath,
        [
          "-e",
          `const W = require(${JSON.stringify(ROOT + "node_modules/ws")});
           const c = new W("ws://127.0.0.1:${server.port}/");
           c.on("open", () => console.log("OPEN"));
           setInterval(() => {}, 1000);`,
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      defer(() => child.kill("SIGKILL"));
      await new Promise<void>((resolve) => child.stdout!.on("data", (d: Buffer) => d.toString().includes("OPEN") && resolve()));
      await waitFor(() => server.connections === 1, 5000, "the child's connection");
      child.kill("SIGSTOP");
      const t0 = Date.now();
      await waitFor(() => closes.length === 1, 10_000, "the frozen peer to be dropped");
      expect(Date.now() - t0).toBeLessThan(6000);
      expect(closes[0]).toBe(1006);
      expect(server.connections).toBe(0);
      await waitFor(() => server.stats().queuedBytes === 0, 2000, "its queued bytes to be freed");
      await expectStillServing(defer, server);
    },
  );
});
