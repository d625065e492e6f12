// Producer threads publish straight to the I/O thread: server.publisherHandle() posted to a
// Worker, createPublisher(handle) there. Subscribers are real `ws` clients, in this process or
// (when this thread is blocked on purpose) in a child process.
import { spawn } from "node:child_process";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { createPublisher, PublishStatus } from "../lib/index.js";
import { BACKPRESSURE_HIGH_WATER_MARK, type ServerWebSocket } from "../lib/index.js";
import { FIXTURES, nextMessage, openTracked, rawTracked, requireDist, ROOT, sleep, startServer, thrown, urlOf, useCleanup, waitFor, withTimeout } from "./helpers.js";

const WORKER = new URL("./fixtures/publisher-worker.mjs", import.meta.url);

function startWorker(defer: ReturnType<typeof useCleanup>, workerData: unknown): { worker: Worker; messages: unknown[]; next(): Promise<Record<string, unknown>> } {
  const worker = new Worker(WORKER, { workerData });
  defer(() => worker.terminate());
  const messages: unknown[] = [];
  const waiters: ((m: Record<string, unknown>) => void)[] = [];
  worker.on("message", (m) => {
    const w = waiters.shift();
    if (w) w(m as Record<string, unknown>);
    else messages.push(m);
  });
  worker.on("error", (err) => {
    throw err;
  });
  return {
    worker,
    messages,
    next: () =>
      withTimeout(
        new Promise<Record<string, unknown>>((resolve) => {
          const m = messages.shift();
          if (m) resolve(m as Record<string, unknown>);
          else waiters.push(resolve);
        }),
        10_000,
        "a message from the worker",
      ),
  };
}

/** Runs the ws-subscribers fixture; resolves its "connected" and "done" lines. */
function subscribersProcess(url: string, clients: number, expected: number) {
  const child = spawn(process.execPath, [FIXTURES + "ws-subscribers.mjs", url, String(clients), String(expected)], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve(s: string): void }[] = [];
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    let nl;
    while ((nl = out.indexOf("\n")) >= 0) {
      const l = out.slice(0, nl);
      out = out.slice(nl + 1);
      lines.push(l);
      for (const w of waiters.splice(0)) {
        if (w.re.test(l)) w.resolve(l);
        else waiters.push(w);
      }
    }
  });
  const waitLine = (re: RegExp, ms: number) =>
    withTimeout(
      new Promise<string>((resolve) => {
        const found = lines.find((l) => re.test(l));
        if (found) resolve(found);
        else waiters.push({ re, resolve });
      }),
      ms,
      `subscriber process line ${re}`,
    );
  return { child, waitLine };
}

describe("createPublisher() in a worker", () => {
  const defer = useCleanup();

  it("its publishes count in a subscriber's bufferedAmount once fanned out, and leave it at 0 once written", async () => {
    const sockets: ServerWebSocket[] = [];
    const server = await startServer(defer, { open: (ws) => void (ws.subscribe("t"), sockets.push(ws)) });
    const client = await openTracked(defer, urlOf(server));
    await waitFor(() => sockets.length === 1, 5000, "the subscription");
    const ws = sockets[0]!;
    // Any thread of the process may open a publisher: this one's publishes reach the I/O
    // thread as another thread's would, without the server's JS counting them.
    const publisher = createPublisher(server.publisherHandle());
    defer(() => publisher.close());
    for (let i = 0; i < 10; i++) expect(publisher.publish("t", Buffer.alloc(1000, i))).toBe(true);
    for (let i = 0; i < 10; i++) expect((await nextMessage(client)).data[0]).toBe(i);
    await waitFor(() => server.stats().queuedBytes === 0, 5000, "everything written");
    await sleep(50);
    expect(ws.bufferedAmount).toBe(0);
  });

  it("its publishes that leave a subscriber at the high-water mark make the server's next publish report BACKPRESSURE", { timeout: 20_000 }, async () => {
    const sockets: ServerWebSocket[] = [];
    const server = await startServer(defer, { open: (ws) => void (ws.subscribe("t"), sockets.push(ws)) });
    const raw = await rawTracked(defer, server.port);
    raw.socket.pause(); // never reads: the kernel's buffers fill, then the native queue
    await waitFor(() => sockets.length === 1, 5000, "the subscription");
    const ws = sockets[0]!;
    // A first publish from this thread: the topic's account looks at its subscribers (SUCCESS).
    expect(server.publish("t", "x")).toBe(PublishStatus.SUCCESS);
    const publisher = createPublisher(server.publisherHandle());
    defer(() => publisher.close());
    for (let i = 0; i < 128; i++) publisher.publish("t", Buffer.alloc(64 * 1024)); // 8 MiB
    await waitFor(() => ws.bufferedAmount >= BACKPRESSURE_HIGH_WATER_MARK, 5000, "the fan-out to count natively");
    const level = ws.bufferedAmount;
    expect(server.publish("t", "y")).toBe(PublishStatus.BACKPRESSURE);
    expect(ws.bufferedAmount).toBe(level + 1);
  });

  it("reaches every subscriber in order while the server's JS thread is blocked", { timeout: 30_000 }, async () => {
    requireDist();
    const COUNT = 300;
    const CLIENTS = 3;
    const server = await startServer(defer, { open: (ws) => void ws.subscribe("t") });
    const subs = subscribersProcess(urlOf(server), CLIENTS, COUNT);
    defer(() => subs.child.kill("SIGKILL"));
    await subs.waitLine(/^connected$/, 10_000);
    await waitFor(() => server.subscriberCount("t") === CLIENTS, 5000, "subscriptions");

    const producer = startWorker(defer, { handle: server.publisherHandle(), mode: "burst", count: COUNT });
    expect(await producer.next()).toEqual({ ready: true });
    producer.worker.postMessage("go");
    // Block this thread (the server's) until the worker has published everything, and longer:
    // 300 messages at 10 per 10 ms take about 300 ms; we stay blocked for 3 s.
    const blockedFrom = Date.now();
    while (Date.now() - blockedFrom < 3000) {
      // busy: no event of this thread runs meanwhile
    }
    const blockedUntil = Date.now();

    const done = JSON.parse((await subs.waitLine(/^done /, 10_000)).slice(5)) as {
      clients: { seqs: number[]; binaryOk: boolean; first: number; last: number }[];
    };
    expect(done.clients).toHaveLength(CLIENTS);
    for (const c of done.clients) {
      expect(c.seqs).toEqual(Array.from({ length: COUNT }, (_, i) => i));
      expect(c.binaryOk).toBe(true);
      // Everything arrived while this thread was blocked.
      expect(c.first).toBeGreaterThanOrEqual(blockedFrom);
      expect(c.last).toBeLessThan(blockedUntil);
    }
    expect(await producer.next()).toMatchObject({ sent: COUNT });
  });

  it("keeps publishes and broadcasts in order per publisher, text and binary, to our process's clients", async () => {
    requireDist();
    const server = await startServer(defer, { open: (ws) => void ws.subscribe("t") });
    const a = await openTracked(defer, urlOf(server));
    const b = await openTracked(defer, urlOf(server));
    await waitFor(() => server.subscriberCount("t") === 2, 5000, "subscriptions");
    const producer = startWorker(defer, { handle: server.publisherHandle(), mode: "burst", count: 40 });
    expect(await producer.next()).toEqual({ ready: true });
    producer.worker.postMessage("go");
    for (const client of [a, b]) {
      for (let i = 0; i < 40; i++) {
        const m = await nextMessage(client);
        expect(m.isBinary).toBe(i % 2 === 1);
        expect(m.isBinary ? m.data.readUInt32BE(0) : Number(m.data.toString())).toBe(i);
      }
    }
  });

  it("returns false after server.close(), without crashing the worker or the process", { timeout: 20_000 }, async () => {
    requireDist();
    const server = await startServer(defer, { open: (ws) => void ws.subscribe("t") });
    await openTracked(defer, urlOf(server));
    const producer = startWorker(defer, { handle: server.publisherHandle(), mode: "until-closed" });
    expect(await producer.next()).toEqual({ ready: true });
    await server.close();
    const result = await producer.next();
    expect(result.refusedAfter).toBeGreaterThanOrEqual(100);
    expect(result.open).toBe(false);
    expect(result.broadcast).toBe(false);
    expect(() => server.publisherHandle()).toThrow(expect.objectContaining({ code: "ERR_CLOSED" }));
  });

  it("survives a worker terminated while it floods, and a handle used after its server is gone", { timeout: 20_000 }, async () => {
    requireDist();
    const server = await startServer(defer, { open: (ws) => void ws.subscribe("t") });
    const client = await openTracked(defer, urlOf(server));
    const handle = server.publisherHandle();
    const producer = startWorker(defer, { handle, mode: "flood" });
    expect(await producer.next()).toEqual({ ready: true });
    await nextMessage(client);
    await producer.worker.terminate();
    // The server still works for this thread's publishes.
    expect(server.publish("t", "after")).toBe(PublishStatus.SUCCESS);
    await waitFor(() => server.stats().messagesOut > 0, 5000, "deliveries");
    await server.close();
    // A handle of a closed server resolves to nothing: publishes return false.
    const late = createPublisher(handle);
    expect(late.open).toBe(false);
    expect(late.publish("t", "x")).toBe(false);
    expect(late.broadcast("x")).toBe(false);
  });

  it("takes only real handles: plain data that survives structured clone", async () => {
    const server = await startServer(defer, {});
    const handle = server.publisherHandle();
    expect(structuredClone(handle)).toEqual(handle);
    expect(Object.keys(handle).sort()).toEqual(["id", "kind"]);
    expect(server.publisherHandle()).toEqual(handle); // one door per server
    expect(thrown(() => createPublisher({ id: 1 } as never)).code).toBe("ERR_INVALID_ARG_TYPE");
    expect(thrown(() => createPublisher(undefined as never)).code).toBe("ERR_INVALID_ARG_TYPE");
    const p = createPublisher(handle);
    expect(() => p.publish("", "x")).toThrow(RangeError);
    await p.close();
    expect(p.publish("t", "x")).toBe(false);
  });
});
