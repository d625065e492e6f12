// Heartbeats: idleTimeout, automatic pings (sendPings), ws.ping() and the pong handler.
import { describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { ReadyState, createServer, type Server, type ServerOptions, type ServerWebSocket } from "../lib/index.js";
import {
  OP,
  closed,
  deferred,
  openTracked,
  rawTracked,
  sleep,
  startServer,
  urlOf,
  useCleanup,
  waitFor,
  withTimeout,
  type ParsedFrame,
  type RawClient,
  createServerRejection,
} from "./helpers.js";

const defer = useCleanup();

interface Recorder {
  server: Server;
  sockets: ServerWebSocket[];
  closes: { ws: ServerWebSocket; code: number; at: number }[];
  pongs: { ws: ServerWebSocket; data: Buffer; at: number }[];
  messages: number;
}

async function recordingServer(options: ServerOptions = {}): Promise<Recorder> {
  const rec: Omit<Recorder, "server"> = { sockets: [], closes: [], pongs: [], messages: 0 };
  const server = await startServer(defer, {
    open: (ws) => void rec.sockets.push(ws),
    close: (ws, code) => void rec.closes.push({ ws, code, at: Date.now() }),
    pong: (ws, data) => void rec.pongs.push({ ws, data: Buffer.from(data), at: Date.now() }),
    message: () => void rec.messages++,
    ...options,
  });
  return Object.assign(rec, { server });
}

/** Reads frames until the server drops the TCP connection; returns them (a silent client: answers nothing). */
async function framesUntilEnd(raw: RawClient, timeoutMs: number): Promise<ParsedFrame[]> {
  const frames: ParsedFrame[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      frames.push(await raw.readFrame(Math.max(1, deadline - Date.now())));
    } catch (err) {
      if (raw.ended) return frames;
      throw err;
    }
  }
}

/** Counts the pings a `ws` client receives (it answers them itself). */
function countPings(client: WebSocket): { count: number; payloads: string[] } {
  const seen = { count: 0, payloads: [] as string[] };
  client.on("ping", (data: Buffer) => {
    seen.count++;
    seen.payloads.push(data.toString());
  });
  return seen;
}

describe("idleTimeout without pings (sendPings: false)", () => {
  it("closes a connected client that stays silent after idleTimeout (1006, no ping sent)", { timeout: 15_000 }, async () => {
    const rec = await recordingServer({ idleTimeout: 2000, sendPings: false });
    const t0 = Date.now();
    const client = await openTracked(defer, urlOf(rec.server));
    const pings = countPings(client);
    const raw = await rawTracked(defer, rec.server.port);

    const [clientClose, rawFrames] = await Promise.all([closed(client, 6000), framesUntilEnd(raw, 6000)]);
    const elapsed = Date.now() - t0;
    await waitFor(() => rec.closes.length === 2, 2000, "both close handlers");
    console.log(`idle close (no pings): client closed after ${elapsed} ms, close handlers at ${rec.closes.map((c) => c.at - t0)} ms`);
    expect(clientClose.code).toBe(1006);
    expect(rec.closes.map((c) => c.code)).toEqual([1006, 1006]);
    for (const c of rec.closes) {
      expect(c.at - t0).toBeGreaterThanOrEqual(1500);
      expect(c.at - t0).toBeLessThanOrEqual(4000);
    }
    expect(pings.count).toBe(0);
    expect(rawFrames.filter((f) => f.opcode === OP.PING)).toEqual([]);
    expect(rec.pongs).toEqual([]);
  });

  it("takes milliseconds: idleTimeout 1500 closes a silent client after 1.5 s, by the next once-a-second check", { timeout: 15_000 }, async () => {
    const rec = await recordingServer({ idleTimeout: 1500, sendPings: false });
    const t0 = Date.now();
    const client = await openTracked(defer, urlOf(rec.server));
    expect((await closed(client, 6000)).code).toBe(1006);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    expect(elapsed).toBeLessThanOrEqual(3500);
  });

  it("keeps a client open past idleTimeout while it sends a message every 500 ms", { timeout: 15_000 }, async () => {
    const rec = await recordingServer({ idleTimeout: 2000, sendPings: false });
    const client = await openTracked(defer, urlOf(rec.server));
    const pings = countPings(client);
    const timer = setInterval(() => client.send("tick"), 500);
    defer(() => clearInterval(timer));
    await sleep(4500);
    clearInterval(timer);
    expect(rec.closes).toEqual([]);
    expect(client.readyState).toBe(client.OPEN);
    expect(rec.messages).toBeGreaterThanOrEqual(7);
    expect(pings.count).toBe(0);
    // Once it goes quiet, it is closed after idleTimeout.
    const quietAt = Date.now();
    expect((await closed(client, 5000)).code).toBe(1006);
    const quietFor = Date.now() - quietAt;
    expect(quietFor).toBeGreaterThanOrEqual(1000);
    expect(quietFor).toBeLessThanOrEqual(4000);
  });
});

describe("idleTimeout with pings (sendPings: true, the default)", () => {
  it("keeps a `ws` client that answers pings open well past idleTimeout", { timeout: 15_000 }, async () => {
    const rec = await recordingServer({ idleTimeout: 2000 });
    const client = await openTracked(defer, urlOf(rec.server));
    const pings = countPings(client);
    await waitFor(() => rec.sockets.length === 1, 5000, "the open handler");
    await sleep(4500);
    expect(rec.closes).toEqual([]);
    expect(client.readyState).toBe(client.OPEN);
    expect(rec.sockets[0]!.readyState).toBe(ReadyState.OPEN);
    // Pinged about once per idleTimeout / 2 of silence.
    expect(pings.count).toBeGreaterThanOrEqual(2);
    console.log(`pings with idleTimeout 2000: client got ${pings.count} pings in 4.5 s, server saw ${rec.pongs.length} pongs`);
  });

  it("automatic pings carry the payload 'ping', and their pongs reach the pong handler", { timeout: 15_000 }, async () => {
    const rec = await recordingServer({ idleTimeout: 2000 });
    const client = await openTracked(defer, urlOf(rec.server));
    const pings = countPings(client);
    await waitFor(() => pings.count >= 1, 4000, "an automatic ping");
    expect(pings.payloads[0]).toBe("ping");
    await waitFor(() => rec.pongs.length >= 1, 2000, "the pong handler");
    expect(rec.pongs[0]!.ws).toBe(rec.sockets[0]);
    expect(rec.pongs[0]!.data.toString()).toBe("ping");
    expect(rec.closes).toEqual([]);
  });

  it("closes a raw client that never answers pings within about idleTimeout + 1 s, after pinging it", { timeout: 15_000 }, async () => {
    const rec = await recordingServer({ idleTimeout: 2000 });
    const t0 = Date.now();
    const raw = await rawTracked(defer, rec.server.port);
    const frames = await framesUntilEnd(raw, 6000);
    const endedAfter = Date.now() - t0;
    await waitFor(() => rec.closes.length === 1, 2000, "the close handler");
    console.log(`unanswered pings: ${frames.length} frames (${frames.map((f) => f.opcode)}) then TCP end after ${endedAfter} ms`);
    expect(frames.filter((f) => f.opcode === OP.PING).length).toBeGreaterThanOrEqual(1);
    expect(frames.filter((f) => f.opcode !== OP.PING && f.opcode !== OP.CLOSE)).toEqual([]);
    expect(rec.closes[0]!.code).toBe(1006);
    expect(rec.closes[0]!.at - t0).toBeGreaterThanOrEqual(1500);
    expect(rec.closes[0]!.at - t0).toBeLessThanOrEqual(3000 + 500);
    expect(rec.pongs).toEqual([]);
  });

  it("keeps a raw client that never answers pings open while it sends messages", { timeout: 15_000 }, async () => {
    const rec = await recordingServer({ idleTimeout: 2000 });
    const raw = await rawTracked(defer, rec.server.port);
    const timer = setInterval(() => raw.send({ opcode: OP.TEXT, payload: "tick" }), 500);
    defer(() => clearInterval(timer));
    await sleep(4500);
    expect(rec.closes).toEqual([]);
    expect(raw.ended).toBe(false);
    expect(rec.messages).toBeGreaterThanOrEqual(7);
  });

  it("idleTimeout: 0 neither pings nor closes a silent client", { timeout: 15_000 }, async () => {
    const rec = await recordingServer({ idleTimeout: 0 });
    const client = await openTracked(defer, urlOf(rec.server));
    const pings = countPings(client);
    await sleep(3000);
    expect(pings.count).toBe(0);
    expect(rec.closes).toEqual([]);
    expect(client.readyState).toBe(client.OPEN);
  });
});

describe("ws.ping()", () => {
  async function openPair(options: ServerOptions = {}) {
    const rec = await recordingServer(options);
    const client = await openTracked(defer, urlOf(rec.server));
    await waitFor(() => rec.sockets.length === 1, 5000, "the open handler");
    return { rec, client, ws: rec.sockets[0]! };
  }

  it("ping('abc'): the client gets a ping with 'abc' and the pong handler gets 'abc' back", async () => {
    const { rec, client, ws } = await openPair();
    const ping = deferred<Buffer>();
    client.once("ping", (data: Buffer) => ping.resolve(data));
    expect(ws.ping("abc")).toBe(true);
    expect((await withTimeout(ping.promise, 5000, "the client's ping event")).toString()).toBe("abc");
    await waitFor(() => rec.pongs.length === 1, 5000, "the pong handler");
    expect(rec.pongs[0]!.ws).toBe(ws);
    expect(rec.pongs[0]!.data.toString()).toBe("abc");
  });

  it("binary, ArrayBuffer and 125-byte payloads round-trip in order", async () => {
    const { rec, client, ws } = await openPair();
    const seen = countPings(client);
    const max = "p".repeat(125);
    expect(ws.ping(Buffer.from([0, 1, 2, 0xff]))).toBe(true);
    expect(ws.ping(max)).toBe(true);
    expect(ws.ping(new Uint8Array([9, 9]).buffer)).toBe(true);
    await waitFor(() => rec.pongs.length === 3, 5000, "3 pongs");
    expect(seen.count).toBe(3);
    expect(rec.pongs.map((p) => [...p.data])).toEqual([[0, 1, 2, 0xff], [...Buffer.from(max)], [9, 9]]);
  });

  it("ping() with no payload: the client gets an empty ping, and its empty pong reaches the pong handler", async () => {
    const { rec, client, ws } = await openPair();
    const seen = countPings(client);
    expect(ws.ping()).toBe(true);
    await waitFor(() => seen.count === 1, 5000, "the client's ping event");
    expect(seen.payloads).toEqual([""]);
    await waitFor(() => rec.pongs.length === 1, 3000, "the pong handler");
    expect(rec.pongs[0]!.data.length).toBe(0);
    expect(ws.ping("after")).toBe(true);
    await waitFor(() => rec.pongs.length === 2, 3000, "the second pong");
    expect(rec.pongs[1]!.data.toString()).toBe("after");
  });

  it("a ping goes out in order with the messages sent before and after it", async () => {
    const { client, ws } = await openPair();
    const order: string[] = [];
    client.on("message", (d: Buffer) => order.push(`msg ${d.toString()}`));
    client.on("ping", (d: Buffer) => order.push(`ping ${d.toString()}`));
    ws.send("one");
    ws.ping("p");
    ws.send("two");
    await waitFor(() => order.length === 3, 5000, "2 messages and a ping");
    expect(order).toEqual(["msg one", "ping p", "msg two"]);
  });

  it("a payload over 125 bytes throws RangeError and leaves the socket open", async () => {
    const { rec, client, ws } = await openPair();
    expect(() => ws.ping("x".repeat(126))).toThrow(RangeError);
    expect(() => ws.ping(Buffer.alloc(126))).toThrow(RangeError);
    expect(() => ws.ping("€".repeat(42))).toThrow(RangeError); // 42 chars, 126 bytes
    expect(() => ws.ping(new ArrayBuffer(1000))).toThrow(RangeError);
    expect(ws.readyState).toBe(ReadyState.OPEN);
    expect(ws.ping("still fine")).toBe(true);
    await waitFor(() => rec.pongs.length === 1, 5000, "the pong");
    expect(rec.pongs[0]!.data.toString()).toBe("still fine");
    expect(client.readyState).toBe(client.OPEN);
  });

  it("returns false once the socket is closing or closed", async () => {
    const { rec, client, ws } = await openPair();
    ws.close();
    expect(ws.ping("late")).toBe(false);
    await closed(client);
    await waitFor(() => rec.closes.length === 1, 5000, "the close handler");
    expect(ws.ping("later")).toBe(false);
  });
});

describe("option validation", () => {
  const rejection = (options: ServerOptions) => createServerRejection(defer, options);

  for (const value of ["true", 1, 0, null, []]) {
    it(`sendPings: ${JSON.stringify(value)} is a TypeError`, async () => {
      const err = await rejection({ sendPings: value as unknown as boolean });
      expect(err).toBeInstanceOf(TypeError);
      expect(err.code).toBe("ERR_INVALID_ARG_TYPE");
    });
  }

  for (const value of [-1, 2 ** 31, 1500.5, Number.NaN]) {
    it(`idleTimeout: ${value} is a RangeError`, async () => {
      const err = await rejection({ idleTimeout: value });
      expect(err).toBeInstanceOf(RangeError);
      expect(err.code).toBe("ERR_OUT_OF_RANGE");
    });
  }

  for (const value of [1, 30, 120, 999]) {
    it(`idleTimeout: ${value} (surely seconds, the unit it used to have) is a RangeError saying it is in milliseconds`, async () => {
      const err = await rejection({ idleTimeout: value });
      expect(err).toBeInstanceOf(RangeError);
      expect(err.code).toBe("ERR_OUT_OF_RANGE");
      expect(err.message).toContain("milliseconds");
      expect(err.message).toContain(`${value * 1000}`);
    });
  }

  it('idleTimeout: "2" is a TypeError', async () => {
    const err = await rejection({ idleTimeout: "2" as unknown as number });
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe("ERR_INVALID_ARG_TYPE");
  });

  it("idleTimeout 0, 1000, 30000 and 2^31-1 (ms) and sendPings true/false are accepted", async () => {
    for (const options of [{ idleTimeout: 0 }, { idleTimeout: 1000 }, { idleTimeout: 30_000 }, { idleTimeout: 2 ** 31 - 1 }, { sendPings: true }, { sendPings: false }]) {
      const server = await startServer(defer, options);
      expect(server.listening).toBe(true);
    }
  });
});

describe("the ping handler", () => {
  it("sees each ping a client sends, also one sent before the previous pong went out", async () => {
    const pings: { ws: ServerWebSocket; data: string }[] = [];
    const rec = await recordingServer({ ping: (ws, data) => void pings.push({ ws, data: data.toString() }) });
    const raw = await rawTracked(defer, rec.server.port);
    raw.send({ opcode: OP.PING, payload: "hello" });
    raw.send({ opcode: OP.PING });
    const pong1 = await raw.readFrame();
    expect([pong1.opcode, pong1.payload.toString()]).toEqual([OP.PONG, "hello"]);
    await waitFor(() => pings.length === 2, 5000, "two ping handler calls");
    expect(pings.map((p) => p.data)).toEqual(["hello", ""]);
    expect(pings[0]!.ws).toBe(rec.sockets[0]);
  });

  it("a client that only pings counts as alive for idleTimeout", { timeout: 15_000 }, async () => {
    const rec = await recordingServer({ idleTimeout: 2000, sendPings: false });
    const raw = await rawTracked(defer, rec.server.port);
    for (let i = 0; i < 6; i++) {
      raw.send({ opcode: OP.PING, payload: `${i}` });
      await sleep(500);
    }
    expect(rec.closes).toEqual([]);
    expect(raw.ended).toBe(false);
  });
});
