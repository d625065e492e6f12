// Handshake limits: slow upgrade requests (slowloris) and oversized headers are dropped while
// the server keeps serving everyone else.
import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { createServerRejection, expectStillServing, startEchoServer, useCleanup, withTimeout } from "./helpers.js";

const defer = useCleanup();

const upgradeHead = (extra = "") =>
  "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
  extra +
  "\r\n";

/** Opens a TCP connection; resolves with what it received and when it closed. */
function rawSession(port: number, drive: (write: (s: string) => boolean) => () => void) {
  const socket = connect(port, "127.0.0.1");
  defer(() => socket.destroy());
  socket.on("error", () => {});
  const t0 = Date.now();
  let received = "";
  socket.on("data", (d) => (received += d.toString("latin1")));
  const stop = drive((s) => !socket.destroyed && socket.write(s));
  return new Promise<{ ms: number; received: string }>((resolve) =>
    socket.once("close", () => {
      stop();
      resolve({ ms: Date.now() - t0, received });
    }),
  );
}

describe("handshake limits", () => {
  it("drops a slowloris that trickles its upgrade request, after handshakeTimeout", { timeout: 15_000 }, async () => {
    const server = await startEchoServer(defer, { handshakeTimeout: 2000 });
    const request = upgradeHead(`X-Pad: ${"a".repeat(500)}\r\n`);
    const session = rawSession(server.port, (write) => {
      let i = 0;
      const timer = setInterval(() => write(request[i++] ?? ""), 50); // would take ~27 s
      return () => clearInterval(timer);
    });
    // Others are served while it trickles.
    await expectStillServing(defer, server);
    const { ms, received } = await withTimeout(session, 6000, "the slowloris to be dropped");
    expect(received).not.toContain("101");
    expect(ms).toBeGreaterThanOrEqual(1800);
    expect(ms).toBeLessThan(3500);
    await expectStillServing(defer, server);
  });

  it("refuses an upgrade request whose headers exceed 8 KiB, without upgrading", async () => {
    const server = await startEchoServer(defer);
    const { received } = await withTimeout(
      rawSession(server.port, (write) => {
        write(upgradeHead(`X-Big: ${"b".repeat(20_000)}\r\n`));
        return () => {};
      }),
      5000,
      "the oversized request to be refused",
    );
    expect(received).not.toContain("101 Switching Protocols");
    expect(server.stats().connectionsTotal).toBe(0);
    await expectStillServing(defer, server);
  });

  it("upgrades a request with 6 KiB of headers (under the limit)", async () => {
    const server = await startEchoServer(defer);
    const socket = connect(server.port, "127.0.0.1");
    defer(() => socket.destroy());
    let received = "";
    const upgraded = new Promise<void>((resolve) =>
      socket.on("data", (d) => {
        received += d.toString("latin1");
        if (received.includes("\r\n\r\n")) resolve();
      }),
    );
    socket.write(upgradeHead(`X-Fits: ${"c".repeat(6000)}\r\n`));
    await withTimeout(upgraded, 5000, "the 101 response");
    expect(received.startsWith("HTTP/1.1 101")).toBe(true);
  });

  for (const value of [0, -1, 3_600_001, 1.5]) {
    it(`handshakeTimeout: ${value} is a RangeError`, async () => {
      const err = await createServerRejection(defer, { handshakeTimeout: value });
      expect(err).toBeInstanceOf(RangeError);
      expect(err.code).toBe("ERR_OUT_OF_RANGE");
    });
  }
});
