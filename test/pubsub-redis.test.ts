// Topics bridged through a real redis-server (Debian's package), servers in separate processes
// (test/fixtures/bridged-server.mjs), subscribers are real `ws` clients.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer as netServer, Socket, type AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { createServer } from "../lib/index.js";
import { FIXTURES, nextMessage, openClient, requireDist, ROOT, sleep, waitFor, withTimeout, type Received } from "./helpers.js";

const REDIS_SERVER = "/usr/bin/redis-server";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function freePort(): Promise<number> {
  const s = netServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

interface RedisProcess {
  port: number;
  url: string;
  kill(): Promise<void>;
}

/** A throwaway redis-server on a loopback port: no persistence, killed with SIGKILL. */
async function startRedis(port?: number): Promise<RedisProcess> {
  expect(existsSync(REDIS_SERVER), `${REDIS_SERVER} is missing: apt-get install redis-server (.ci/run does)`).toBe(true);
  const p = port ?? (await freePort());
  const child = spawn(REDIS_SERVER, ["--port", String(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  await waitFor(() => out.includes("Ready to accept connections") || child.exitCode !== null, 10_000, "redis-server ready");
  expect(child.exitCode, out).toBe(null);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const r = {
    port: p,
    url: `redis://127.0.0.1:${p}`,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
  cleanups.push(r.kill);
  return r;
}

/**
 * A TCP proxy in front of Redis whose door we control: while closed, connections are cut at
 * once (a network loss, as far as the client can tell).
 */
async function startProxy(target: number): Promise<{ url: string; open: boolean }> {
  const sockets = new Set<Socket>();
  const state = { open: true };
  const server = netServer((client) => {
    if (!state.open) return void client.destroy();
    const upstream = new Socket();
    sockets.add(client).add(upstream);
    upstream.connect(target, "127.0.0.1");
    // Ends travel along after the bytes before them (pipe), so no answer is lost in here.
    client.pipe(upstream).pipe(client);
    const forget = (s: Socket) => () => void sockets.delete(s);
    client.on("close", forget(client)).on("error", () => upstream.destroy());
    upstream.on("close", forget(upstream)).on("error", () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get open() {
      return state.open;
    },
    set open(v: boolean) {
      state.open = v;
    },
  };
}

interface Bridged {
  port: number;
  child: ChildProcessWithoutNullStreams;
  lines: string[];
  send(cmd: Record<string, unknown>): void;
  waitLine(re: RegExp, ms?: number): Promise<string>;
  stats(): Promise<Record<string, number | boolean>>;
  /** close command; resolves with the exit code once the process exited by itself. */
  close(): Promise<number | null>;
}

async function startBridged(name: string, redis: string, pubsub: Record<string, unknown> = {}): Promise<Bridged> {
  requireDist();
  const child = spawn(process.execPath, [FIXTURES + "bridged-server.mjs", JSON.stringify({ name, redis, pubsub })], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "pipe"],
  });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const lines: string[] = [];
  let pending = "";
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  child.stdout.on("data", (c: Buffer) => {
    pending += c.toString();
    let nl;
    while ((nl = pending.indexOf("\n")) >= 0) {
      lines.push(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let seen = 0;
  const waitLine = async (re: RegExp, ms = 10_000): Promise<string> => {
    let found: string | undefined;
    await waitFor(
      () => {
        const i = lines.findIndex((l, k) => k >= seen && re.test(l));
        if (i < 0) return false;
        found = lines[i];
        return true;
      },
      ms,
      `${name}: a line matching ${re} (stderr: ${stderr})`,
    );
    return found!;
  };
  const first = await waitLine(/^listening /);
  const b: Bridged = {
    port: (JSON.parse(first.slice(10)) as { port: number }).port,
    child,
    lines,
    send: (cmd) => void child.stdin.write(`${JSON.stringify(cmd)}\n`),
    waitLine,
    async stats() {
      seen = lines.length;
      b.send({ cmd: "stats" });
      return JSON.parse((await waitLine(/^stats /)).slice(6)) as Record<string, number | boolean>;
    },
    async close() {
      b.send({ cmd: "close" });
      return withTimeout(exited, 15_000, `${name} exits by itself after close (stderr: ${stderr})`);
    },
  };
  return b;
}

async function subscriber(server: Bridged, ...topics: string[]): Promise<{ ws: WebSocket; got: Received[] }> {
  const ws = await openClient(`ws://127.0.0.1:${server.port}/`);
  cleanups.push(() => ws.terminate());
  for (const t of topics) {
    ws.send(`sub ${t}`);
    const ack = await nextMessage(ws);
    expect(ack.data.toString()).toBe(`ok ${t}`);
  }
  const got: Received[] = [];
  ws.on("message", (data: Buffer, isBinary: boolean) => got.push({ data, isBinary }));
  return { ws, got };
}

/** Redis's view: how many connections subscribe to `channel`. */
async function numsub(admin: Redis, channel: string): Promise<number> {
  const reply = (await admin.pubsub("NUMSUB", channel)) as [string, number];
  return Number(reply[1]);
}

async function adminClient(url: string): Promise<Redis> {
  const admin = new Redis(url, { lazyConnect: true });
  admin.on("error", () => {}); // its Redis may be killed on purpose
  await admin.connect();
  cleanups.push(() => admin.disconnect());
  return admin;
}

/** Messages "<name>:<i>" from one publisher, checked for order, type and duplicates. */
function sequenceOf(got: Received[], name: string): number[] {
  const seqs: number[] = [];
  for (const m of got) {
    const [from, i] = m.data.toString().split(":");
    if (from !== name) continue;
    expect(m.isBinary, `${from}:${i} binary flag`).toBe(Number(i) % 2 === 1);
    seqs.push(Number(i));
  }
  return seqs;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe("pubsub: topics bridged through Redis", () => {
  it("three servers in three processes: every publish reaches every subscriber once, in order per publisher", { timeout: 60_000 }, async () => {
    const redis = await startRedis();
    const admin = await adminClient(redis.url);
    const servers = await Promise.all(["A", "B", "C"].map((n) => startBridged(n, redis.url)));
    const subs = await Promise.all(servers.map((s) => subscriber(s, "news")));
    const second = await subscriber(servers[0]!, "news"); // two on A: A subscribes its channel once
    expect(await numsub(admin, "lwsnode:news")).toBe(3);

    const COUNT = 200;
    for (const s of servers) s.send({ cmd: "publish", topic: "news", count: COUNT, batch: 20, intervalMs: 5 });
    const all = [...subs, second];
    await waitFor(() => all.every((s) => s.got.length >= 3 * COUNT), 20_000, "every message everywhere");
    await sleep(200); // and nothing more (no echo, no duplicate)
    for (const s of all) {
      expect(s.got).toHaveLength(3 * COUNT);
      for (const name of ["A", "B", "C"]) expect(sequenceOf(s.got, name)).toEqual(range(COUNT));
    }

    // ws.publish skips its sender, on its server and everywhere else reaches everyone.
    for (const s of all) s.got.length = 0;
    subs[0]!.ws.send("pub news from-a-client");
    await waitFor(() => second.got.length === 1 && subs[1]!.got.length === 1 && subs[2]!.got.length === 1, 10_000, "ws.publish everywhere");
    await sleep(200);
    expect(subs[0]!.got).toHaveLength(0);
    for (const s of [second, subs[1]!, subs[2]!]) expect(s.got.map((m) => m.data.toString())).toEqual(["from-a-client"]);

    const stats = await servers[1]!.stats();
    expect(stats.pubsubDropped).toBe(0);
    expect(stats.pubsubUnconfirmed).toBe(0);
    expect(stats.pubsubReceived).toBe(2 * COUNT + 1);
    expect(stats.pubsubPublished).toBe(COUNT);
    expect(stats.pubsubConnected).toBe(true);
    for (const s of servers) expect(await s.close()).toBe(0);
  });

  it("subscribes a topic's channel only where it has local subscribers, and leaves it with the last", { timeout: 60_000 }, async () => {
    const redis = await startRedis();
    const admin = await adminClient(redis.url);
    const [a, b, c] = await Promise.all(["A", "B", "C"].map((n) => startBridged(n, redis.url)));
    const onA = await subscriber(a!, "sparse");
    const onB = await subscriber(b!, "sparse");
    const otherOnC = await subscriber(c!, "other");
    await expect.poll(() => numsub(admin, "lwsnode:sparse")).toBe(2);
    c!.send({ cmd: "publish", topic: "sparse", count: 10 });
    await waitFor(() => onA.got.length === 10 && onB.got.length === 10, 10_000, "C's publishes on A and B");
    expect(sequenceOf(onA.got, "C")).toEqual(range(10));
    expect(otherOnC.got).toHaveLength(0);
    expect((await c!.stats()).pubsubReceived).toBe(0); // C never subscribed the channel

    onA.ws.send("unsub sparse");
    await expect.poll(() => numsub(admin, "lwsnode:sparse")).toBe(1);
    onB.ws.close();
    await expect.poll(() => numsub(admin, "lwsnode:sparse")).toBe(0);
    for (const s of [a!, b!, c!]) expect(await s.close()).toBe(0);
  });

  it("keeps text and binary, and carries 1 MiB messages", { timeout: 60_000 }, async () => {
    const redis = await startRedis();
    const [a, b] = await Promise.all(["A", "B"].map((n) => startBridged(n, redis.url)));
    const onB = await subscriber(b!, "big");
    a!.send({ cmd: "big", topic: "big" });
    await waitFor(() => onB.got.length === 2, 20_000, "two 1 MiB messages");
    const expected = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < expected.length; i++) expected[i] = (i * 31 + 7) & 0xff;
    const sha = (d: Uint8Array) => createHash("sha256").update(d).digest("hex");
    expect(onB.got[0]!.isBinary).toBe(true);
    expect(sha(onB.got[0]!.data)).toBe(sha(expected));
    expect(onB.got[1]!.isBinary).toBe(false);
    expect(onB.got[1]!.data.toString()).toBe("é".repeat(512 * 1024));
    for (const s of [a!, b!]) expect(await s.close()).toBe(0);
  });

  it("a worker's createPublisher() reaches the other servers too, and its own server's subscribers once", { timeout: 60_000 }, async () => {
    const redis = await startRedis();
    const [a, b] = await Promise.all(["A", "B"].map((n) => startBridged(n, redis.url)));
    const onA = await subscriber(a!, "w");
    const onB = await subscriber(b!, "w");
    a!.send({ cmd: "worker", topic: "w", count: 100 });
    await a!.waitLine(/^worker-done \{"code":0\}/, 20_000); // the bridged worker exits by itself after close()
    await waitFor(() => onA.got.length >= 100 && onB.got.length >= 100, 10_000, "the worker's messages").catch((err) => {
      throw new Error(`${err.message}: A got ${onA.got.length}, B got ${onB.got.length}; A said ${a!.lines.join(" | ")}`);
    });
    await sleep(200);
    for (const s of [onA, onB]) {
      expect(s.got).toHaveLength(100);
      expect(s.got.map((m) => (m.isBinary ? m.data.readUInt32BE(0) : Number(m.data.toString())))).toEqual(range(100));
      expect(s.got.map((m) => m.isBinary)).toEqual(range(100).map((i) => i % 2 === 1));
    }
    for (const s of [a!, b!]) expect(await s.close()).toBe(0);
  });

  it("Redis killed and restarted mid-stream: local serving goes on, the bridge recovers, and the loss is what stats() counts", { timeout: 90_000 }, async () => {
    const redis = await startRedis();
    // A reaches Redis through a proxy we control, so that after the restart B resubscribes
    // before A's buffered messages go out (otherwise Redis would deliver them to nobody, a loss
    // no publisher can see).
    const proxy = await startProxy(redis.port);
    const a = await startBridged("A", proxy.url, { maxBuffered: 50, retry: { minDelay: 50, maxDelay: 200 } });
    const b = await startBridged("B", redis.url, { retry: { minDelay: 50, maxDelay: 200 } });
    const onA = await subscriber(a, "live");
    const onB = await subscriber(b, "live");

    const COUNT = 600; // 2 per 10 ms: about 3 s
    a.send({ cmd: "publish", topic: "live", count: COUNT, batch: 2, intervalMs: 10 });
    await waitFor(() => onB.got.length >= 100, 10_000, "the stream flows");
    proxy.open = false; // A's reconnects are refused until B is back
    await redis.kill();
    await a.waitLine(/^event \{"type":"disconnected"/);
    await sleep(700); // publishing goes on: some buffered, then dropped past 50
    const restarted = await startRedis(redis.port);
    const admin = await adminClient(restarted.url);
    await expect.poll(() => numsub(admin, "lwsnode:live"), { timeout: 10_000 }).toBe(1); // B is back
    proxy.open = true;
    await a.waitLine(/^published /, 20_000);
    await waitFor(() => onA.got.length === COUNT, 10_000, "A's own subscriber got every message (local serving never stopped)");
    // A reconnected and sent what it buffered.
    await expect.poll(async () => { const s = await a.stats(); return s.pubsubConnected === true && s.pubsubBuffered === 0; }, { timeout: 10_000 }).toBe(true);
    await sleep(300); // the last acknowledgements
    const stats = await a.stats();
    expect(stats.pubsubConnected).toBe(true);
    expect(stats.pubsubBuffered).toBe(0);
    const dropped = stats.pubsubDropped as number;
    // In flight when Redis died: Redis may have delivered them before it went; nothing else is unknown.
    const unconfirmed = stats.pubsubUnconfirmed as number;
    expect(dropped).toBeGreaterThan(0);
    await waitFor(() => onB.got.length >= COUNT - dropped, 10_000, "B got everything that was not dropped");
    await sleep(300);
    const seqs = sequenceOf(onB.got, "A");
    expect(seqs.length).toBeGreaterThanOrEqual(COUNT - dropped);
    expect(seqs.length).toBeLessThanOrEqual(COUNT - dropped + unconfirmed);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]!); // in order, no duplicate
    expect(stats.pubsubPublished).toBe(COUNT - dropped);
    expect(a.lines.some((l) => l.startsWith('event {"type":"dropped"'))).toBe(true);
    expect(a.lines.some((l) => l.startsWith('event {"type":"reconnecting"'))).toBe(true);
    for (const s of [a, b]) expect(await s.close()).toBe(0);
  });

  it("starts with Redis down: serves locally, connects when Redis comes up, and closes while it is down", { timeout: 60_000 }, async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    // A behind a proxy held shut until B has subscribed (see the previous test for why).
    const proxy = await startProxy(port);
    proxy.open = false;
    const a = await startBridged("A", proxy.url, { retry: { minDelay: 50, maxDelay: 200 } });
    const b = await startBridged("B", url, { retry: { minDelay: 50, maxDelay: 200 } });
    const onA = await subscriber(a, "t");
    const onB = await subscriber(b, "t");
    a.send({ cmd: "publish", topic: "t", count: 4 });
    await waitFor(() => onA.got.length === 4, 10_000, "local delivery without Redis");
    const down = await a.stats();
    expect(down.pubsubConnected).toBe(false);
    expect(down.pubsubBuffered).toBe(4);
    const redis = await startRedis(port);
    const admin = await adminClient(redis.url);
    await expect.poll(() => numsub(admin, "lwsnode:t"), { timeout: 10_000 }).toBe(1);
    proxy.open = true;
    await expect.poll(() => numsub(admin, "lwsnode:t"), { timeout: 10_000 }).toBe(2);
    await waitFor(() => onB.got.length === 4, 10_000, "buffered messages delivered once Redis is up");
    expect(sequenceOf(onB.got, "A")).toEqual(range(4));
    await redis.kill();
    await a.waitLine(/^event \{"type":"disconnected"/);
    for (const s of [a, b]) expect(await s.close()).toBe(0); // Redis down: still exits by itself
  });

  it("rejects bad pubsub options with typed errors", async () => {
    await expect(createServer({ pubsub: { redis: "http://x" } })).rejects.toMatchObject({ code: "ERR_INVALID_ARG_TYPE" });
    await expect(createServer({ pubsub: { redis: "redis://x", nope: 1 } as never })).rejects.toMatchObject({ code: "ERR_INVALID_ARG_TYPE" });
    await expect(createServer({ pubsub: { redis: "redis://x", maxBuffered: -1 } })).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
    await expect(createServer({ pubsub: "redis://x" as never })).rejects.toMatchObject({ code: "ERR_INVALID_ARG_TYPE" });
  });
});
