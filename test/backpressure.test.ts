// Backpressure: bufferedAmount, send() statuses, drain, maxBackpressure policies, slow-reader
// memory bound; and the maxConnections limit.
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  BACKPRESSURE_HIGH_WATER_MARK,
  PublishStatus,
  ReadyState,
  SendStatus,
  createServer,
  type Server,
  type ServerOptions,
  type ServerWebSocket,
} from "../lib/index.js";
import {
  OP,
  closed,
  nextMessage,
  openTracked,
  rawTracked,
  sleep,
  startServer,
  upgradeStatus,
  urlOf,
  useCleanup,
  waitFor,
  withTimeout,
  type RawClient,
  createServerRejection,
} from "./helpers.js";

const defer = useCleanup();

const KiB = 1024;
const MiB = 1024 * 1024;

interface Recorder {
  server: Server;
  sockets: ServerWebSocket[];
  closes: { ws: ServerWebSocket; code: number; reason: string }[];
  drains: { ws: ServerWebSocket; bufferedAmount: number }[];
}

/** A server that records opens, closes and drains; with `topic`, every socket subscribes to it on open. */
async function recordingServer(options: ServerOptions = {}, topic?: string): Promise<Recorder> {
  const sockets: Recorder["sockets"] = [];
  const closes: Recorder["closes"] = [];
  const drains: Recorder["drains"] = [];
  const server = await startServer(defer, {
    open: (ws) => {
      sockets.push(ws);
      if (topic !== undefined) ws.subscribe(topic);
    },
    close: (ws, code, reason) => void closes.push({ ws, code, reason }),
    drain: (ws) => void drains.push({ ws, bufferedAmount: ws.bufferedAmount }),
    ...options,
  });
  return { server, sockets, closes, drains };
}

/** The server socket opened after `index` sockets (connect one client at a time). */
async function socketAt(rec: Recorder, index: number): Promise<ServerWebSocket> {
  await waitFor(() => rec.sockets.length > index, 5000, "the open handler");
  return rec.sockets[index]!;
}

/** A raw client that completed the upgrade and then never reads from its socket. */
async function stalledClient(rec: Recorder): Promise<{ raw: RawClient; ws: ServerWebSocket }> {
  const index = rec.sockets.length;
  const raw = await rawTracked(defer, rec.server.port);
  raw.socket.pause();
  return { raw, ws: await socketAt(rec, index) };
}

/** A `ws` client that only counts binary messages carrying a 4-byte sequence number (keeps no data). */
interface Counter {
  client: WebSocket;
  count: number;
  bytes: number;
  last: number;
  outOfOrder: number;
}

function countingClient(url: string): Promise<Counter> {
  return new Promise((resolve, reject) => {
    const client = new WebSocket(url);
    const c: Counter = { client, count: 0, bytes: 0, last: -1, outOfOrder: 0 };
    defer(() => client.terminate());
    client.on("message", (data: Buffer) => {
      const seq = data.readUInt32BE(0);
      if (seq !== c.last + 1) c.outOfOrder++;
      c.last = seq;
      c.count++;
      c.bytes += data.length;
    });
    client.once("open", () => resolve(c));
    client.once("error", reject);
  });
}

function numbered(seq: number, size: number): Buffer {
  const b = Buffer.alloc(size, seq & 0xff);
  b.writeUInt32BE(seq, 0);
  return b;
}

describe("bufferedAmount", () => {
  it("is 0 when idle, counts at most the payload's byte length right after send(), and returns to 0 once written", async () => {
    const rec = await recordingServer();
    const client = await openTracked(defer, urlOf(rec.server));
    const ws = await socketAt(rec, 0);
    expect(ws.bufferedAmount).toBe(0);

    const payloads: [string | ArrayBuffer | ArrayBufferView, number][] = [
      ["hello", 5],
      ["héllo wörld", 13], // UTF-8 bytes, not UTF-16 code units
      ["😀", 4],
      ["", 0],
      [Buffer.alloc(1000), 1000],
      [new Uint16Array(10), 20],
      [new ArrayBuffer(7), 7],
      [new DataView(new ArrayBuffer(16), 4, 8), 8],
      [Buffer.alloc(200 * KiB), 200 * KiB],
    ];
    for (const [data, bytes] of payloads) {
      expect(ws.bufferedAmount).toBe(0);
      const status = ws.send(data);
      // The I/O thread may already have written some or all of it (even before send() returns):
      // exact growth is checked on a stalled socket below.
      const after = ws.bufferedAmount;
      expect(status).toBe(SendStatus.SUCCESS);
      expect(after, `after sending ${bytes} bytes`).toBeGreaterThanOrEqual(0);
      expect(after, `after sending ${bytes} bytes`).toBeLessThanOrEqual(bytes);
      await waitFor(() => ws.bufferedAmount === 0, 5000, "bufferedAmount back to 0");
      const m = await nextMessage(client);
      expect(m.data.length).toBe(bytes);
    }
    expect(rec.server.stats().queuedBytes).toBe(0);
    expect(rec.drains).toEqual([]); // no backpressure, no drain
  });

  it("while the socket cannot write, every send() adds exactly its payload's byte length", { timeout: 20_000 }, async () => {
    const rec = await recordingServer({ maxBackpressure: 64 * MiB });
    const { ws } = await stalledClient(rec);
    // Fill the kernel buffers until nothing more is written for 300 ms.
    const deadline = Date.now() + 10_000;
    let sent = 0;
    for (;;) {
      for (let k = 0; k < 32; k++) ws.send(Buffer.alloc(64 * KiB));
      sent += 32 * 64 * KiB;
      const level = ws.bufferedAmount;
      await sleep(300);
      if (ws.bufferedAmount === level && level > 0) break;
      if (Date.now() > deadline || sent > 48 * MiB) throw new Error(`the socket never stalled (${sent} bytes sent)`);
    }
    const payloads: [string | ArrayBuffer | ArrayBufferView, number][] = [
      ["hello", 5],
      ["héllo wörld", 13],
      ["日本", 6],
      ["😀", 4],
      ["", 0],
      [Buffer.alloc(1000), 1000],
      [new Float64Array(3), 24],
      [new ArrayBuffer(7), 7],
      ["x".repeat(70_000), 70_000],
    ];
    for (const [data, bytes] of payloads) {
      const before = ws.bufferedAmount;
      const status = ws.send(data);
      expect(status).toBe(SendStatus.BACKPRESSURE);
      expect(ws.bufferedAmount - before, `growth for a ${bytes}-byte payload`).toBe(bytes);
    }
    // Publishes count too, at once (before the I/O thread has fanned them out), broadcasts once
    // fanned out; this socket is over the high-water mark, so both report backpressure.
    ws.subscribe("t");
    const before = ws.bufferedAmount;
    expect(rec.server.publish("t", "ü".repeat(500))).toBe(PublishStatus.BACKPRESSURE);
    expect(ws.bufferedAmount).toBe(before + 1000);
    expect(rec.server.broadcast(Buffer.alloc(3000))).toBe(PublishStatus.BACKPRESSURE);
    await waitFor(() => ws.bufferedAmount === before + 1000 + 3000, 5000, "the broadcast counted");
    await sleep(100);
    expect(ws.bufferedAmount, "stays exact once fanned out").toBe(before + 1000 + 3000);
    // With one socket, the server's queuedBytes is that socket's bufferedAmount.
    expect(rec.server.stats().queuedBytes).toBe(ws.bufferedAmount);
  });

  it("a large message to a client that does not read stays counted until it is written", { timeout: 15_000 }, async () => {
    const rec = await recordingServer({ maxBackpressure: 64 * MiB });
    const { raw, ws } = await stalledClient(rec);
    const SIZE = 16 * MiB; // far more than the kernel's socket buffers take (~4 MiB here)
    expect(ws.send(Buffer.alloc(SIZE, 7))).toBe(SendStatus.SUCCESS);
    await sleep(500);
    const stats = rec.server.stats();
    console.log(`16 MiB to a stalled client: bufferedAmount ${ws.bufferedAmount}, queuedBytes ${stats.queuedBytes}, bytesOut ${stats.bytesOut}`);
    expect(ws.bufferedAmount).toBeGreaterThan(SIZE / 2);
    expect(stats.bytesOut).toBeLessThan(SIZE / 2);
    // Reading again delivers it whole, and only then the count returns to 0.
    raw.socket.resume();
    const m = await raw.readMessage(10_000);
    expect(m.opcode).toBe(OP.BINARY);
    expect(m.payload.length).toBe(SIZE);
    expect(m.payload.every((b) => b === 7)).toBe(true);
    expect(m.fragments).toBeGreaterThan(1); // large messages leave in fragments
    await waitFor(() => ws.bufferedAmount === 0, 5000, "bufferedAmount back to 0");
  });

  it("sums several sends made in one go (never more than their total) and returns to 0", async () => {
    const rec = await recordingServer();
    const client = await openTracked(defer, urlOf(rec.server));
    const ws = await socketAt(rec, 0);
    let total = 0;
    for (let i = 0; i < 20; i++) {
      const before = ws.bufferedAmount;
      const text = `message ${i} ${"ü".repeat(i)}`;
      expect(ws.send(text)).toBe(SendStatus.SUCCESS);
      total += Buffer.byteLength(text);
      const after = ws.bufferedAmount;
      expect(after).toBeLessThanOrEqual(before + Buffer.byteLength(text));
      expect(after).toBeLessThanOrEqual(total);
      expect(after).toBeGreaterThanOrEqual(0);
    }
    await waitFor(() => ws.bufferedAmount === 0, 5000, "bufferedAmount back to 0");
    for (let i = 0; i < 20; i++) expect((await nextMessage(client)).data.toString()).toBe(`message ${i} ${"ü".repeat(i)}`);
  });

  it("returns to 0 after publishes and broadcasts to the socket are written", async () => {
    const rec = await recordingServer();
    const client = await openTracked(defer, urlOf(rec.server));
    const ws = await socketAt(rec, 0);
    ws.subscribe("t");
    rec.server.publish("t", Buffer.alloc(100 * KiB));
    rec.server.broadcast("x".repeat(1000));
    await waitFor(() => ws.bufferedAmount === 0, 5000, "bufferedAmount back to 0");
    expect((await nextMessage(client)).data.length).toBe(100 * KiB);
    expect((await nextMessage(client)).data.length).toBe(1000);
    expect(rec.server.stats().queuedBytes).toBe(0);
  });

  it("counts a publish in every subscriber's bufferedAmount at once, exactly, through several topics, the sender's own publish excepted; unsubscribe and close keep what was counted", { timeout: 20_000 }, async () => {
    const rec = await recordingServer({ maxBackpressure: 64 * MiB });
    const { ws } = await stalledClient(rec);
    const client = await openTracked(defer, urlOf(rec.server));
    const other = await socketAt(rec, 1);
    // Fill the kernel's buffers until nothing more is written: from then on every byte stays counted.
    const deadline = Date.now() + 10_000;
    for (;;) {
      for (let k = 0; k < 32; k++) ws.send(Buffer.alloc(64 * KiB));
      const level = ws.bufferedAmount;
      await sleep(300);
      if (ws.bufferedAmount === level) break;
      if (Date.now() > deadline) throw new Error("the socket never stalled");
    }
    ws.subscribe("a");
    ws.subscribe("b");
    other.subscribe("a");
    const base = ws.bufferedAmount;
    expect(rec.server.publish("a", Buffer.alloc(100))).toBe(PublishStatus.BACKPRESSURE); // ws holds the mark
    expect(ws.bufferedAmount).toBe(base + 100);
    expect(rec.server.publish("b", "ü".repeat(25))).toBe(PublishStatus.BACKPRESSURE);
    expect(ws.bufferedAmount).toBe(base + 150);
    expect(other.publish("a", Buffer.alloc(10))).toBe(PublishStatus.BACKPRESSURE); // ws receives it
    expect(ws.bufferedAmount).toBe(base + 160);
    expect(ws.publish("a", Buffer.alloc(7))).toBe(PublishStatus.SUCCESS); // only `other` receives it
    expect(ws.bufferedAmount).toBe(base + 160);
    expect(other.bufferedAmount).toBeLessThanOrEqual(100 + 7);
    // Leaving a topic keeps what it published so far (it is still fanned out to the socket).
    expect(ws.unsubscribe("b")).toBe(true);
    expect(ws.bufferedAmount).toBe(base + 160);
    expect(rec.server.publish("b", "more")).toBe(PublishStatus.NOT_PUBLISHED);
    expect(ws.bufferedAmount).toBe(base + 160);
    // Once fanned out, the native queue holds exactly that; `other` wrote everything.
    await waitFor(() => rec.server.stats().queuedBytes === ws.bufferedAmount, 5000, "the fan-out");
    expect(ws.bufferedAmount).toBe(base + 160);
    expect(other.bufferedAmount).toBe(0);
    for (const n of [100, 7]) expect((await nextMessage(client)).data.length).toBe(n);
    // Closed: what was never written stays as it was, and later publishes do not count.
    ws.terminate();
    await waitFor(() => rec.closes.some((c) => c.ws === ws), 5000, "the close");
    const final = ws.bufferedAmount;
    expect(final).toBe(base + 160);
    rec.server.publish("a", Buffer.alloc(1000));
    expect(ws.bufferedAmount).toBe(final);
    expect(ws.isSubscribed("a")).toBe(false);
  });

  it("publishes dropped at maxBackpressure leave bufferedAmount once fanned out, counted in stats().dropped; drain follows when the socket reads again", { timeout: 20_000 }, async () => {
    const MAX = 256 * KiB;
    const rec = await recordingServer({ maxBackpressure: MAX }, "t");
    const { raw, ws } = await stalledClient(rec);
    // Publish until the native queue reaches maxBackpressure (the kernel takes its share first),
    // two messages a turn: less than the limit, so no one fan-out batch reaches it alone.
    const deadline = Date.now() + 15_000;
    while (rec.server.stats().dropped === 0) {
      for (let k = 0; k < 2; k++) rec.server.publish("t", Buffer.alloc(64 * KiB));
      await sleep(10);
      if (Date.now() > deadline) throw new Error("never dropped");
    }
    await waitFor(() => rec.server.stats().queuedBytes === ws.bufferedAmount, 5000, "the fan-out");
    const level = ws.bufferedAmount;
    const dropped = rec.server.stats().dropped;
    expect(level).toBeGreaterThanOrEqual(MAX);
    for (let k = 0; k < 3; k++) expect(rec.server.publish("t", Buffer.alloc(1000))).toBe(PublishStatus.BACKPRESSURE);
    expect(ws.bufferedAmount).toBe(level + 3000); // counted at once...
    await waitFor(() => rec.server.stats().dropped === dropped + 3, 5000, "the drops");
    expect(ws.bufferedAmount).toBe(level); // ...and out again once dropped
    // Drains came while the kernel still took data; now none comes until the client reads.
    await sleep(200);
    const drains = rec.drains.length;
    await sleep(200);
    expect(rec.drains).toHaveLength(drains);
    raw.socket.resume();
    await waitFor(() => rec.drains.length === drains + 1, 10_000, "the drain");
    expect(rec.drains.at(-1)!.ws).toBe(ws);
    await waitFor(() => ws.bufferedAmount === 0, 10_000, "everything written");
  });

  it("stays 0 after ws.ping() with a payload has been written", async () => {
    const rec = await recordingServer();
    const client = await openTracked(defer, urlOf(rec.server));
    const ws = await socketAt(rec, 0);
    const pinged = new Promise<Buffer>((resolve) => client.once("ping", resolve));
    expect(ws.ping("abcdefgh")).toBe(true);
    expect((await withTimeout(pinged, 5000, "the ping")).toString()).toBe("abcdefgh");
    await sleep(50);
    expect(ws.bufferedAmount).toBe(0);
    expect(ws.send("after ping")).toBe(SendStatus.SUCCESS);
    expect(ws.bufferedAmount).toBeGreaterThanOrEqual(0);
    expect(ws.bufferedAmount).toBeLessThanOrEqual(10);
  });
});

describe("a client that stops reading", () => {
  it(
    "send() answers SUCCESS, then BACKPRESSURE past 64 KiB, then DROPPED at maxBackpressure; drain follows once it reads again",
    { timeout: 30_000 },
    async () => {
      const MAX = 1 * MiB;
      const CHUNK = 16 * KiB;
      const rec = await recordingServer({ maxBackpressure: MAX });
      const { raw, ws } = await stalledClient(rec);

      const statuses: number[] = [];
      const accepted: number[] = [];
      const violations: string[] = [];
      let seq = 0;
      const deadline = Date.now() + 15_000;
      // Keep sending (yielding now and then so the I/O thread fills the kernel buffers) until a
      // send is dropped and the socket is stuck: nothing more written for 300 ms. Bounded by
      // time and by 256 MiB in total.
      for (;;) {
        if (statuses.at(-1) === SendStatus.DROPPED && ws.bufferedAmount >= MAX) {
          const stuckAt = ws.bufferedAmount;
          await sleep(300);
          if (ws.bufferedAmount === stuckAt) break;
        }
        if (Date.now() > deadline || seq >= 16_384) break;
        for (let k = 0; k < 32; k++) {
          const before = ws.bufferedAmount;
          const status = ws.send(numbered(seq, CHUNK));
          const after = ws.bufferedAmount;
          statuses.push(status);
          // bufferedAmount only shrinks behind our back, so `before` bounds what send() saw.
          if (before <= BACKPRESSURE_HIGH_WATER_MARK && status !== SendStatus.SUCCESS) {
            violations.push(`#${seq}: status ${status} with only ${before} bytes buffered`);
          }
          if (status === SendStatus.BACKPRESSURE && before <= BACKPRESSURE_HIGH_WATER_MARK) {
            violations.push(`#${seq}: BACKPRESSURE with ${before} bytes buffered`);
          }
          if (status === SendStatus.DROPPED && before < MAX) violations.push(`#${seq}: DROPPED with ${before} buffered`);
          if (status === SendStatus.SUCCESS || status === SendStatus.BACKPRESSURE) {
            accepted.push(seq);
            if (after > before + CHUNK) violations.push(`#${seq}: grew from ${before} to ${after}`);
          } else if (after > before) {
            violations.push(`#${seq}: a dropped send grew bufferedAmount from ${before} to ${after}`);
          }
          seq++;
          if (status === SendStatus.DROPPED) break;
        }
        await sleep(1);
      }
      expect(statuses.at(-1), "the socket never got stuck at maxBackpressure").toBe(SendStatus.DROPPED);
      const firstBackpressure = statuses.indexOf(SendStatus.BACKPRESSURE);
      const firstDropped = statuses.indexOf(SendStatus.DROPPED);
      console.log(
        `stalled reader: ${seq} sends of ${CHUNK} bytes; first BACKPRESSURE at #${firstBackpressure}, ` +
          `first DROPPED at #${firstDropped}; bufferedAmount ${ws.bufferedAmount}`,
      );
      expect(violations.slice(0, 5)).toEqual([]);
      expect(statuses[0]).toBe(SendStatus.SUCCESS);
      expect(firstBackpressure).toBeGreaterThan(0);
      expect(firstDropped).toBeGreaterThan(firstBackpressure);
      expect(ws.bufferedAmount).toBeGreaterThanOrEqual(MAX - CHUNK);

      // Still stalled: more sends are dropped, and every drop is counted.
      for (let i = 0; i < 5; i++) {
        const status = ws.send(numbered(seq++, CHUNK));
        statuses.push(status);
      }
      expect(statuses.slice(-5)).toEqual(Array(5).fill(SendStatus.DROPPED));
      const droppedCount = statuses.filter((s) => s === SendStatus.DROPPED).length;
      expect(rec.server.stats().dropped).toBe(droppedCount);
      // No drain while the client is stalled (one may have come earlier, while the kernel still
      // took data).
      const drainsWhileStalled = rec.drains.length;
      await sleep(300);
      expect(rec.drains).toHaveLength(drainsWhileStalled);
      expect(ws.readyState).toBe(ReadyState.OPEN);

      // The client reads again: it gets exactly the accepted messages, whole and in order.
      raw.socket.resume();
      const got: number[] = [];
      for (let i = 0; i < accepted.length; i++) {
        const f = await raw.readDataFrame(10_000);
        expect(f.opcode).toBe(OP.BINARY);
        expect(f.payload.length).toBe(CHUNK);
        got.push(f.payload.readUInt32BE(0));
      }
      expect(got).toEqual(accepted);
      await waitFor(() => rec.drains.length > drainsWhileStalled, 5000, "the drain handler");
      await waitFor(() => ws.bufferedAmount === 0, 5000, "bufferedAmount back to 0");
      await sleep(100);
      expect(rec.drains).toHaveLength(drainsWhileStalled + 1);
      expect(rec.drains.at(-1)).toEqual({ ws, bufferedAmount: 0 });
      expect(rec.server.stats().queuedBytes).toBe(0);
      // And it accepts sends again.
      expect(ws.send("back to normal")).toBe(SendStatus.SUCCESS);
      const f = await raw.readDataFrame(5000);
      expect(f.payload.toString()).toBe("back to normal");
    },
  );

  it(
    "closeOnBackpressureLimit: a send over the limit closes the stalled socket with 1008; others keep working",
    { timeout: 30_000 },
    async () => {
      const MAX = 256 * KiB;
      const CHUNK = 16 * KiB;
      const rec = await recordingServer({
        maxBackpressure: MAX,
        closeOnBackpressureLimit: true,
        message: (ws, data, isBinary) => void ws.send(data, isBinary),
      });
      const other = await openTracked(defer, urlOf(rec.server));
      await socketAt(rec, 0);
      const { ws } = await stalledClient(rec);

      let status: number = SendStatus.SUCCESS;
      let seq = 0;
      const deadline = Date.now() + 15_000;
      while (status !== SendStatus.DROPPED && Date.now() < deadline && seq < 16_384) {
        for (let k = 0; k < 32 && status !== SendStatus.DROPPED; k++) status = ws.send(numbered(seq++, CHUNK));
        await sleep(1);
      }
      expect(status).toBe(SendStatus.DROPPED);
      expect(ws.readyState).toBe(ReadyState.CLOSING);
      expect(ws.send("more")).toBe(SendStatus.CLOSED);

      // The client still does not read: the close frame cannot go out, so the server gives up on
      // it (today after lws's ~5 s close timeout) and reports 1008.
      const droppedAt = Date.now();
      await waitFor(() => rec.closes.some((c) => c.ws === ws), 8000, "the stalled socket's close handler");
      console.log(`closeOnBackpressureLimit (send): close handler ${Date.now() - droppedAt} ms after the DROPPED send`);
      const c = rec.closes.find((x) => x.ws === ws)!;
      expect(c.code).toBe(1008);
      expect(ws.readyState).toBe(ReadyState.CLOSED);
      expect(rec.server.stats().dropped).toBeGreaterThanOrEqual(1);

      other.send("still here");
      expect((await nextMessage(other)).data.toString()).toBe("still here");
      expect(rec.closes).toHaveLength(1);
    },
  );

  it(
    "closeOnBackpressureLimit: publishes close a stalled subscriber with 1008 while the other subscribers receive everything",
    { timeout: 30_000 },
    async () => {
      const MAX = 512 * KiB;
      const MSG = 64 * KiB;
      const TOTAL = 200;
      const rec = await recordingServer({ maxBackpressure: MAX, closeOnBackpressureLimit: true }, "feed");
      const fast = [await countingClient(urlOf(rec.server)), await countingClient(urlOf(rec.server))];
      await socketAt(rec, 1);
      const { ws: slow } = await stalledClient(rec);
      expect(rec.server.subscriberCount("feed")).toBe(3);

      const deadline = Date.now() + 20_000;
      let slowClosedAt = -1;
      for (let seq = 0; seq < TOTAL; seq++) {
        // Pace the publisher by the fast subscribers: at most 4 messages ahead of them.
        while (fast.some((c) => c.count < seq - 4) && Date.now() < deadline) await sleep(1);
        expect(rec.server.publish("feed", numbered(seq, MSG))).toBeTruthy();
        if (slowClosedAt < 0 && rec.closes.some((c) => c.ws === slow)) slowClosedAt = seq;
      }
      await waitFor(() => fast.every((c) => c.count === TOTAL), 10_000, "the fast subscribers to get everything");
      for (const c of fast) {
        expect(c.last).toBe(TOTAL - 1);
        expect(c.outOfOrder).toBe(0);
      }
      // The stalled subscriber was closed with 1008 without reading anything more.
      await waitFor(() => rec.closes.some((c) => c.ws === slow), 8000, "the stalled subscriber's close handler");
      console.log(`closeOnBackpressureLimit (publish): close handler ran by publish #${slowClosedAt} (-1: after the last)`);
      expect(rec.closes.find((c) => c.ws === slow)!.code).toBe(1008);
      expect(rec.closes).toHaveLength(1);
      expect(rec.server.subscriberCount("feed")).toBe(2);
      expect(rec.server.stats().dropped).toBeGreaterThanOrEqual(1);
    },
  );

  it(
    "memory stays bounded: 4 fast subscribers get ~100 MB of publishes while one stalled subscriber drops them",
    { timeout: 60_000 },
    async () => {
      const MAX = 4 * MiB;
      const MSG = 64 * KiB;
      const TOTAL = 400; // 25 MiB published, x 4 fast receivers = 100 MiB delivered
      const FAST = 4;
      const rec = await recordingServer({ maxBackpressure: MAX }, "feed");
      const fast: Counter[] = [];
      for (let i = 0; i < FAST; i++) fast.push(await countingClient(urlOf(rec.server)));
      await socketAt(rec, FAST - 1);
      const { ws: slow } = await stalledClient(rec);
      expect(rec.server.subscriberCount("feed")).toBe(FAST + 1);

      await sleep(100);
      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      let maxSlowBuffered = 0;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
        maxSlowBuffered = Math.max(maxSlowBuffered, slow.bufferedAmount);
      }, 20);
      defer(() => clearInterval(sampler));

      const t0 = Date.now();
      const deadline = t0 + 30_000;
      for (let seq = 0; seq < TOTAL && Date.now() < deadline; seq++) {
        // Pace by the fast subscribers (at most 16 messages = 1 MiB ahead), never by the slow one.
        while (fast.some((c) => c.count < seq - 16) && Date.now() < deadline) await sleep(1);
        rec.server.publish("feed", numbered(seq, MSG));
        maxSlowBuffered = Math.max(maxSlowBuffered, slow.bufferedAmount);
      }
      await waitFor(() => fast.every((c) => c.count === TOTAL), 15_000, "the fast subscribers to get everything");
      const elapsed = Date.now() - t0;
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage().rss);
      const stats = rec.server.stats();
      const delivered = fast.reduce((n, c) => n + c.bytes, 0);
      console.log(
        `slow-reader memory: ${(delivered / MiB).toFixed(1)} MiB delivered to ${FAST} fast subscribers in ${elapsed} ms; ` +
          `rss baseline ${(baseline / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB ` +
          `(+${((peak - baseline) / MiB).toFixed(1)} MiB); stalled socket buffered at most ${(maxSlowBuffered / MiB).toFixed(2)} MiB; ` +
          `dropped ${stats.dropped}`,
      );
      for (const c of fast) {
        expect(c.count).toBe(TOTAL);
        expect(c.last).toBe(TOTAL - 1);
        expect(c.outOfOrder).toBe(0);
      }
      expect(delivered).toBe(FAST * TOTAL * MSG);
      expect(stats.dropped).toBeGreaterThan(0);
      expect(stats.dropped).toBeLessThan(TOTAL); // the stalled socket did take some before its limit
      // Its native queue stops at MAX (+ the message that crossed it); its bufferedAmount also
      // counts the publishes not fanned out yet: at most the 17 the pacing lets be in flight.
      expect(maxSlowBuffered).toBeLessThanOrEqual(MAX + MSG + 17 * MSG);
      expect(slow.readyState).toBe(ReadyState.OPEN);
      expect(peak - baseline).toBeLessThan(200 * MiB);
    },
  );
});

describe("maxConnections", () => {
  it("answers further upgrades with 503, counts them as rejected, and accepts again once one closes", async () => {
    const rec = await recordingServer({ maxConnections: 2 });
    const a = await openTracked(defer, urlOf(rec.server));
    await openTracked(defer, urlOf(rec.server));
    await waitFor(() => rec.sockets.length === 2, 5000, "2 open handlers");

    expect(await upgradeStatus(urlOf(rec.server))).toBe(503);
    const statusViaEvent = await new Promise<number>((resolve, reject) => {
      const c = new WebSocket(urlOf(rec.server));
      c.once("unexpected-response", (_req, res) => {
        res.resume();
        c.terminate();
        resolve(res.statusCode ?? 0);
      });
      c.once("open", () => reject(new Error("third client opened")));
      c.once("error", () => {});
    });
    expect(statusViaEvent).toBe(503);
    expect(rec.server.stats().rejected).toBe(2);
    await sleep(100);
    expect(rec.sockets).toHaveLength(2);
    expect(rec.server.connections).toBe(2);
    expect(rec.server.stats().connectionsTotal).toBe(2);

    a.close();
    await closed(a);
    await waitFor(() => rec.closes.length === 1, 5000, "the close handler");
    const c = await openTracked(defer, urlOf(rec.server));
    await waitFor(() => rec.sockets.length === 3, 5000, "the third open handler");
    expect(rec.server.connections).toBe(2);
    expect(await upgradeStatus(urlOf(rec.server))).toBe(503);
    expect(rec.server.stats().rejected).toBe(3);
    rec.sockets[2]!.send("welcome");
    expect((await nextMessage(c)).data.toString()).toBe("welcome");
  });

  it("0 means no limit", async () => {
    const rec = await recordingServer({ maxConnections: 0 });
    for (let i = 0; i < 5; i++) await openTracked(defer, urlOf(rec.server));
    await waitFor(() => rec.sockets.length === 5, 5000, "5 open handlers");
    expect(rec.server.stats().rejected).toBe(0);
  });
});

describe("option validation", () => {
  const rejection = (options: ServerOptions) => createServerRejection(defer, options);

  for (const value of ["yes", 1, 0, null, {}]) {
    it(`closeOnBackpressureLimit: ${JSON.stringify(value)} is a TypeError`, async () => {
      const err = await rejection({ closeOnBackpressureLimit: value as unknown as boolean });
      expect(err).toBeInstanceOf(TypeError);
      expect(err.code).toBe("ERR_INVALID_ARG_TYPE");
    });
  }

  for (const value of [-1, 1.5, Number.NaN, Infinity]) {
    it(`maxConnections: ${value} is a RangeError`, async () => {
      const err = await rejection({ maxConnections: value });
      expect(err).toBeInstanceOf(RangeError);
      expect(err.code).toBe("ERR_OUT_OF_RANGE");
    });
  }

  it('maxConnections: "2" is a TypeError', async () => {
    const err = await rejection({ maxConnections: "2" as unknown as number });
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe("ERR_INVALID_ARG_TYPE");
  });

  for (const value of [0, -1, 0.5]) {
    it(`maxBackpressure: ${value} is a RangeError`, async () => {
      const err = await rejection({ maxBackpressure: value });
      expect(err).toBeInstanceOf(RangeError);
    });
  }

  it("closeOnBackpressureLimit: true/false and maxConnections: 1 are accepted", async () => {
    for (const options of [{ closeOnBackpressureLimit: true }, { closeOnBackpressureLimit: false }, { maxConnections: 1 }]) {
      const server = await startServer(defer, options);
      expect(server.listening).toBe(true);
    }
  });
});

describe("publish backpressure", () => {
  // The natural publisher: publish while the fastest subscriber's bufferedAmount is under the
  // high-water mark, then wait for its drain. That bufferedAmount counts every publish from the
  // moment publish() returns (also before the I/O thread fanned it out), so the loop never runs
  // ahead of the fast subscriber, which gets every byte; a never-reading subscriber is dropped
  // by policy (maxBackpressure) and memory stays bounded.
  for (const closeSlow of [false, true]) {
    it(
      `one fast and one never-reading subscriber, 32 MiB in 64 KiB messages paced on the fast one: it gets every byte` +
        (closeSlow ? " (closeOnBackpressureLimit closes the slow one with 1008)" : " (the slow one's messages are dropped)"),
      { timeout: 60_000 },
      async () => {
        const MSG = 64 * KiB;
        const TOTAL = 512; // 32 MiB
        const MAX = 4 * MiB;
        const rec = await recordingServer({
          maxBackpressure: MAX,
          closeOnBackpressureLimit: closeSlow,
          drain: (ws) => {
            rec.drains.push({ ws, bufferedAmount: ws.bufferedAmount });
            if (ws === fastWs) wake?.();
          },
        }, "feed");
        let wake: (() => void) | undefined;
        const fast = await countingClient(urlOf(rec.server));
        const fastWs = await socketAt(rec, 0);
        const { ws: slow } = await stalledClient(rec);

        await sleep(50);
        const baseline = process.memoryUsage().rss;
        let peak = baseline;
        const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
        defer(() => clearInterval(sampler));
        const statuses = new Map<number, number>();
        let maxFastBuffered = 0;
        for (let seq = 0; seq < TOTAL; ) {
          while (seq < TOTAL && fastWs.bufferedAmount < BACKPRESSURE_HIGH_WATER_MARK) {
            const status = rec.server.publish("feed", numbered(seq++, MSG));
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
            maxFastBuffered = Math.max(maxFastBuffered, fastWs.bufferedAmount);
          }
          if (seq < TOTAL) {
            // A drain is on its way (publish asked for it when it crossed the high-water mark).
            await withTimeout(new Promise<void>((resolve) => (wake = resolve)), 10_000, `the fast subscriber's drain at #${seq}`);
          }
        }
        await waitFor(() => fast.count === TOTAL, 20_000, "the fast subscriber to get everything");
        clearInterval(sampler);
        const stats = rec.server.stats();
        console.log(
          `publish pacing: fast got ${(fast.bytes / MiB).toFixed(1)} MiB, its bufferedAmount peaked at ${(maxFastBuffered / KiB).toFixed(0)} KiB; ` +
            `statuses ${JSON.stringify([...statuses])}; dropped ${stats.dropped}; rss +${((peak - baseline) / MiB).toFixed(1)} MiB`,
        );
        expect(fast.bytes).toBe(TOTAL * MSG);
        expect(fast.last).toBe(TOTAL - 1);
        expect(fast.outOfOrder).toBe(0);
        expect(maxFastBuffered).toBeLessThan(BACKPRESSURE_HIGH_WATER_MARK + MSG + 1);
        // The slow one was over the high-water mark all along: publish said so.
        expect(statuses.get(PublishStatus.BACKPRESSURE)).toBeGreaterThan(TOTAL / 2);
        if (closeSlow) {
          await waitFor(() => rec.closes.some((c) => c.ws === slow), 10_000, "the slow subscriber's close");
          expect(rec.closes.find((c) => c.ws === slow)!.code).toBe(1008);
        } else {
          expect(stats.dropped).toBeGreaterThan(0);
          expect(slow.readyState).toBe(ReadyState.OPEN);
          // Exact once the fan-out is done: what its native queue holds, at most MAX + one message.
          await waitFor(() => rec.server.stats().queuedBytes === slow.bufferedAmount, 5000, "the slow socket's count to settle");
          expect(slow.bufferedAmount).toBeLessThanOrEqual(MAX + MSG);
        }
        expect(peak - baseline).toBeLessThan(64 * MiB);
      },
    );
  }

  it("publish() reports BACKPRESSURE while a subscriber holds the high-water mark; that subscriber's drain follows once", { timeout: 30_000 }, async () => {
    const rec = await recordingServer({}, "t");
    const { raw, ws: stalled } = await stalledClient(rec);
    // Both below the mark (whatever the I/O thread has written meanwhile): SUCCESS, no drain.
    expect(rec.server.publish("t", numbered(0, 1000))).toBe(PublishStatus.SUCCESS);
    expect(stalled.bufferedAmount).toBeLessThanOrEqual(1000);
    // 8 MiB more: the kernel takes a few MiB at most from a socket that is not read, so the
    // stalled subscriber holds the mark by the end, and publish says so.
    const statuses = Array.from({ length: 128 }, (_, i) => rec.server.publish("t", numbered(i + 1, 64 * KiB)));
    expect(statuses.at(-1)).toBe(PublishStatus.BACKPRESSURE);
    expect(stalled.bufferedAmount).toBeGreaterThanOrEqual(BACKPRESSURE_HIGH_WATER_MARK);
    await sleep(200);
    expect(rec.drains).toHaveLength(0);
    raw.socket.resume();
    await waitFor(() => rec.drains.length === 1, 10_000, "the stalled subscriber's drain");
    expect(rec.drains[0]!.ws).toBe(stalled);
    expect(rec.drains[0]!.bufferedAmount).toBeLessThan(BACKPRESSURE_HIGH_WATER_MARK);
    await waitFor(() => stalled.bufferedAmount === 0, 10_000, "everything written");
    await sleep(100);
    expect(rec.drains).toHaveLength(1);
  });
});
