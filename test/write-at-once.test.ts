// The outbound hot path: frames are written as soon as the I/O thread applies the commands of a
// JS turn (no WRITEABLE round trip), each turn's sends and publishes cross to it together, and
// none of that may change what a peer receives, in what order, or what bufferedAmount says.
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { connect, SendStatus, type ClientWebSocket, type ServerWebSocket } from "../lib/index.js";
import { openTracked, startEchoServer, startServer, urlOf, useCleanup, waitFor, withTimeout } from "./helpers.js";

const defer = useCleanup();

/** Collects every text message `client` receives. */
function collect(client: WebSocket): string[] {
  const got: string[] = [];
  client.on("message", (data) => got.push(data.toString()));
  return got;
}

/** A server whose sockets all subscribe to "t"; resolves with the server and its sockets as they open. */
async function subscribedServer() {
  const sockets: ServerWebSocket[] = [];
  const server = await startServer(defer, {
    open(ws) {
      ws.subscribe("t");
      sockets.push(ws);
    },
    message(ws) {
      ws.send("reply");
      server.publish("t", "reply-publish");
    },
  });
  return { server, sockets };
}

describe("one JS turn, one batch", () => {
  it("sends and publishes issued in one turn arrive in issue order, on every socket", async () => {
    const { server, sockets } = await subscribedServer();
    const a = await openTracked(defer, urlOf(server));
    const b = await openTracked(defer, urlOf(server));
    await waitFor(() => sockets.length === 2, 5000, "two opens");
    const gotA = collect(a);
    const gotB = collect(b);
    // One turn: direct sends to each socket interleaved with publishes to both.
    const [sa, sb] = sockets as [ServerWebSocket, ServerWebSocket];
    const expectA: string[] = [];
    const expectB: string[] = [];
    for (let i = 0; i < 50; i++) {
      sa.send(`a${i}`);
      expectA.push(`a${i}`);
      server.publish("t", `p${i}`);
      expectA.push(`p${i}`);
      expectB.push(`p${i}`);
      sb.send(`b${i}`);
      expectB.push(`b${i}`);
      sa.publish("t", `q${i}`); // ws.publish: every subscriber but the sender
      expectB.push(`q${i}`);
    }
    await waitFor(() => gotA.length >= expectA.length && gotB.length >= expectB.length, 5000, "every message");
    expect(gotA).toEqual(expectA);
    expect(gotB).toEqual(expectB);
  });

  it("order holds across turns of every kind: timers, immediates, nextTick, promise jobs and event handlers", async () => {
    const { server, sockets } = await subscribedServer();
    const client = await openTracked(defer, urlOf(server));
    await waitFor(() => sockets.length === 1, 5000, "open");
    const got = collect(client);
    const ws = sockets[0]!;
    const expected: string[] = [];
    // Each kind of callback is its own turn, and each must reach the peer by itself: nothing
    // else is sent or received meanwhile that could carry its commands across. (Without a
    // wakeup a command would still leave within a second, at the I/O thread's idle tick; the
    // stages are repeated so that a missing wakeup cannot pass by luck.)
    const stage = async (what: string, schedule: (run: () => void) => void, ...messages: string[]): Promise<void> => {
      expected.push(...messages);
      schedule(() => {
        for (const m of messages) {
          if (m.includes("publish")) server.publish("t", m);
          else ws.send(m);
        }
      });
      await waitFor(() => got.length >= expected.length, 700, what);
      expect(got).toEqual(expected);
    };
    for (let r = 0; r < 3; r++) {
      await stage("a promise job", (run) => void Promise.resolve().then(run), `promise-job ${r}`);
      await stage("a timer", (run) => setTimeout(run, 1), `timer ${r}`, `timer-publish ${r}`);
      await stage("setImmediate", (run) => setImmediate(run), `immediate ${r}`);
      await stage("process.nextTick", (run) => process.nextTick(run), `next-tick-publish ${r}`);
      await stage("queueMicrotask", (run) => queueMicrotask(run), `microtask ${r}`, `microtask-publish ${r}`);
    }
    // and a message handler's turn (an event dispatch)
    expected.push("reply", "reply-publish");
    client.send("go");
    await waitFor(() => got.length >= expected.length, 2000, "a message handler's send and publish");
    expect(got).toEqual(expected);
  });
});

describe("bufferedAmount under write-at-once", () => {
  it("counts each send synchronously and returns to exactly 0 once the turn's batch is written", async () => {
    const sockets: ServerWebSocket[] = [];
    const server = await startServer(defer, { open: (ws) => void sockets.push(ws) });
    const client = await openTracked(defer, urlOf(server));
    await waitFor(() => sockets.length === 1, 5000, "open");
    const ws = sockets[0]!;
    const got = collect(client);
    let expected = 0;
    for (let i = 0; i < 100; i++) {
      const msg = "x".repeat(i + 1);
      expect(ws.send(msg)).toBe(SendStatus.SUCCESS);
      expected += i + 1;
      expect(ws.bufferedAmount).toBe(expected); // nothing can have been written inside the turn
    }
    await waitFor(() => ws.bufferedAmount === 0, 5000, "bufferedAmount back to 0");
    await waitFor(() => got.length === 100, 5000, "100 messages");
    expect(got.map((s) => s.length)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const stats = server.stats();
    expect(stats.messagesOut).toBe(100);
    expect(stats.bytesOut).toBe(expected);
    expect(stats.queuedBytes).toBe(0);
  });

  it("a socket that cannot write keeps exactly what the kernel refused counted, and drains to 0", async () => {
    const sockets: ServerWebSocket[] = [];
    let drains = 0;
    const server = await startServer(defer, { open: (ws) => void sockets.push(ws), drain: () => void drains++ });
    const client = await openTracked(defer, urlOf(server));
    await waitFor(() => sockets.length === 1, 5000, "open");
    const ws = sockets[0]!;
    // Stop reading: the kernel buffers fill and the rest stays queued natively.
    (client as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const chunk = Buffer.alloc(256 * 1024, 7);
    let sent = 0;
    for (let i = 0; i < 64; i++) {
      ws.send(chunk);
      sent += chunk.length;
    }
    expect(ws.bufferedAmount).toBe(sent);
    // Written bytes leave the count; what is left is a whole number of bytes not yet written,
    // and stays put while the peer does not read.
    await new Promise((r) => setTimeout(r, 300));
    const stuck = ws.bufferedAmount;
    expect(stuck).toBeGreaterThan(0);
    expect(stuck).toBeLessThan(sent);
    await new Promise((r) => setTimeout(r, 200));
    expect(ws.bufferedAmount).toBe(stuck);
    expect(server.stats().queuedBytes).toBe(stuck);
    let received = 0;
    client.on("message", (d: Buffer) => void (received += d.length));
    (client as unknown as { _socket: { resume(): void } })._socket.resume();
    await waitFor(() => received === sent, 15_000, "everything received");
    await waitFor(() => ws.bufferedAmount === 0, 5000, "bufferedAmount back to 0");
    expect(server.stats().queuedBytes).toBe(0);
    expect(drains).toBe(1);
  });
});

describe("client connections (masked) use the same path", () => {
  it("a client's sends from timers and from its message handler arrive in order", async () => {
    const server = await startEchoServer(defer);
    const ws: ClientWebSocket = await withTimeout(connect(urlOf(server)), 5000, "connect");
    defer(() => ws.terminate());
    const got: string[] = [];
    ws.on("message", (d) => {
      const s = d.toString();
      got.push(s);
      if (s === "t9") for (let i = 0; i < 10; i++) ws.send(`h${i}`); // replies from a dispatch turn
    });
    for (let i = 0; i < 10; i++) setTimeout(() => ws.send(`t${i}`), 0);
    await waitFor(() => got.length === 20, 5000, "20 echoes");
    expect(got).toEqual([...Array.from({ length: 10 }, (_, i) => `t${i}`), ...Array.from({ length: 10 }, (_, i) => `h${i}`)]);
    expect(ws.bufferedAmount).toBe(0);
  });
});
