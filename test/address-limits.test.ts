// Limits that protect the server from one client address, and from slow upgrade hooks: all
// enforced on the I/O thread, before the `upgrade` handler (or any handler) sees the request.
import { connect as netConnect, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createServer } from "../lib/index.js";
import { openClient, sleep, startServer, urlOf, useCleanup, waitFor, withTimeout } from "./helpers.js";

const defer = useCleanup();

/** The HTTP status of an upgrade attempt from `localAddress` (101 when it opened; it is closed again). */
async function attempt(url: string, localAddress = "127.0.0.1", keep = false): Promise<{ status: number; client?: WebSocket }> {
  const client = new WebSocket(url, { localAddress });
  defer(() => client.terminate());
  return withTimeout(
    new Promise((resolve, reject) => {
      client.once("open", () => {
        if (!keep) client.terminate();
        resolve({ status: 101, client });
      });
      client.once("unexpected-response", (_req, res) => {
        resolve({ status: res.statusCode ?? 0 });
        res.destroy();
      });
      client.once("error", reject);
    }),
    5000,
    "the upgrade's answer",
  );
}

describe("maxConnectionsPerIp", () => {
  it("answers an address's upgrades beyond the limit 429 before the upgrade handler; others and later ones get through", async () => {
    const seen: string[] = [];
    const server = await startServer(defer, {
      maxConnectionsPerIp: 2,
      upgrade: (req) => void seen.push(req.remoteAddress),
    });
    const url = urlOf(server);
    const a = await attempt(url, "127.0.0.1", true);
    const b = await attempt(url, "127.0.0.1", true);
    expect([a.status, b.status]).toEqual([101, 101]);
    expect((await attempt(url, "127.0.0.1")).status).toBe(429);
    expect(seen).toHaveLength(2); // the refused one never reached JS
    // Another address has its own count.
    expect((await attempt(url, "127.0.0.2")).status).toBe(101);
    // A connection that closes frees its place.
    a.client!.close();
    await waitFor(() => server.connections === 1, 5000, "the close");
    expect((await attempt(url, "127.0.0.1")).status).toBe(101);
    expect(server.stats().rejected).toBe(1);
  });

  it("is off by default: 20 connections from one address are fine", async () => {
    const server = await startServer(defer, {});
    const clients = await Promise.all(Array.from({ length: 20 }, () => openClient(urlOf(server))));
    for (const c of clients) defer(() => c.terminate());
    await waitFor(() => server.connections === 20, 5000, "20 connections");
  });
});

describe("handshakeRateLimit", () => {
  it("answers an address's upgrades beyond N per second 429 (before the handler); the next second it may again", async () => {
    const seen: number[] = [];
    const server = await startServer(defer, { handshakeRateLimit: 5, upgrade: () => void seen.push(1) });
    const url = urlOf(server);
    const statuses: number[] = [];
    const started = Date.now();
    for (let i = 0; i < 7; i++) statuses.push((await attempt(url)).status);
    const elapsed = Date.now() - started;
    // The window starts with the first request: the first 5 get through; within that second the
    // rest are refused (on a machine so slow that the 7 took over a second, a new window began).
    expect(statuses.slice(0, 5)).toEqual([101, 101, 101, 101, 101]);
    if (elapsed < 1000) expect(statuses.slice(5)).toEqual([429, 429]);
    expect(seen.length).toBe(statuses.filter((s) => s === 101).length);
    expect((await attempt(url, "127.0.0.3")).status).toBe(101);
    await sleep(1100);
    expect((await attempt(url)).status).toBe(101);
  });

  it("a burst of 50 upgrades from one address: 10 get through, 40 are answered 429, the server keeps serving", async () => {
    const server = await startServer(defer, { handshakeRateLimit: 10, upgradeTimeout: 5000 });
    const results = await Promise.all(Array.from({ length: 50 }, () => attempt(urlOf(server))));
    const opened = results.filter((r) => r.status === 101).length;
    // All 50 arrive within a second or two: one or two windows.
    expect(opened).toBeGreaterThanOrEqual(10);
    expect(opened).toBeLessThanOrEqual(20);
    expect(results.every((r) => r.status === 101 || r.status === 429)).toBe(true);
  });
});

describe("option validation", () => {
  for (const name of ["maxConnectionsPerIp", "handshakeRateLimit"] as const) {
    it(`${name}: -1 and 1.5 are RangeErrors, "3" a TypeError`, async () => {
      await expect(createServer({ [name]: -1 })).rejects.toMatchObject({ name: "RangeError", code: "ERR_OUT_OF_RANGE" });
      await expect(createServer({ [name]: 1.5 })).rejects.toMatchObject({ name: "RangeError" });
      await expect(createServer({ [name]: "3" as never })).rejects.toMatchObject({ name: "TypeError", code: "ERR_INVALID_ARG_TYPE" });
    });
  }
});

describe("parked handshakes share one header-buffer pool per reactor", () => {
  it("two servers whose upgrade hooks never decide cannot starve a third server's handshakes", { timeout: 30_000 }, async () => {
    const PER_SERVER = 128; // the most a server may park: two of them could hold all 256 buffers
    const hooked = async (): Promise<import("../lib/index.js").Server> =>
      startServer(defer, { maxPendingUpgrades: PER_SERVER, upgradeTimeout: 60_000, upgrade: () => new Promise(() => {}) });
    const slow = [await hooked(), await hooked()];
    const other = await startServer(defer, {});
    const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
    const answers: string[] = [];
    const sockets: Socket[] = [];
    for (const server of slow) {
      for (let i = 0; i < PER_SERVER; i++) {
        const s = netConnect(server.port, "127.0.0.1");
        sockets.push(s);
        defer(() => s.destroy());
        s.on("error", () => {});
        let got = "";
        s.on("data", (d) => {
          got += d.toString("latin1");
          if (got.includes("\r\n")) answers.push(got.slice(0, got.indexOf("\r\n")));
        });
        s.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      }
    }
    // 256 requests: the reactor parks at most 192 of them; the others are answered 503 at once.
    const refused = 2 * PER_SERVER - 192;
    await waitFor(() => answers.length >= refused, 10_000, "the requests beyond the reactor's bound to be answered");
    await sleep(200);
    expect(answers.length).toBe(refused);
    for (const a of answers) expect(a).toMatch(/^HTTP\/1\.[01] 503 /);
    // The third server (and the hooked ones, for requests answered at once) still handshake.
    const started = Date.now();
    const client = await openClient(urlOf(other), {}, 5000);
    client.terminate();
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
