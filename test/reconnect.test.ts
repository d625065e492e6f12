// connect() with `reconnect`: failed connects are retried with jittered backoff, dropped
// connections reopen on the same object, and close() ends it all.
import { once } from "node:events";
import { createServer as createNetServer, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket as WsSocket } from "ws";
import { connect, ConnectError, type ClientWebSocket, WebSocket } from "../lib/index.js";
import { deferred, startEchoServer, urlOf, useCleanup, withTimeout } from "./helpers.js";

const defer = useCleanup();

async function freePort(): Promise<number> {
  const probe = createNetServer();
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function wsEcho(port = 0): Promise<WebSocketServer> {
  const wss = new WebSocketServer({ port, host: "127.0.0.1" });
  await once(wss, "listening");
  wss.on("connection", (s: WsSocket) => s.on("message", (d, b) => s.send(d, { binary: b })));
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  return wss;
}

function echoOnce(ws: ClientWebSocket, text: string): Promise<string> {
  const reply = new Promise<string>((resolve) => ws.once("message", (d) => resolve(d.toString())));
  ws.send(text);
  return withTimeout(reply, 5000, `echo of ${text}`);
}

describe("reconnect", () => {
  it("retries a refused connect until the server is up", async () => {
    const port = await freePort();
    const pending = connect(`ws://127.0.0.1:${port}/`, { reconnect: { retries: 50, minDelay: 20, maxDelay: 100 } });
    await new Promise((resolve) => setTimeout(resolve, 150)); // a few refused attempts first
    await wsEcho(port);
    const ws = await withTimeout(pending, 8000, "connect() with retries");
    defer(() => ws.terminate());
    expect(await echoOnce(ws, "finally")).toBe("finally");
  });

  it("gives up after `retries` more attempts and rejects with the last failure", async () => {
    let attempts = 0;
    const net = createNetServer((s: Socket) => {
      attempts++;
      s.destroy();
    });
    net.listen(0, "127.0.0.1");
    await once(net, "listening");
    defer(() => net.close());
    const err = await withTimeout(
      connect(`ws://127.0.0.1:${(net.address() as { port: number }).port}/`, { reconnect: { retries: 3, minDelay: 10, maxDelay: 40 } }).then(
        () => undefined,
        (e: unknown) => e,
      ),
      8000,
      "connect() to fail",
    );
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).reason).toBe("network");
    expect(attempts).toBe(4);
  });

  it("does not retry what retrying cannot fix (an HTTP 404)", async () => {
    const server = await startEchoServer(defer, { path: "/only" });
    const err = (await connect(urlOf(server, "/other"), { reconnect: { retries: 5, minDelay: 10 } }).catch((e: unknown) => e)) as ConnectError;
    expect(err.status).toBe(404);
    expect(server.stats().rejected).toBe(1);
  });

  it("reopens a dropped connection on the same object; messages flow again", async () => {
    const wss = await wsEcho();
    const ws = await connect(`ws://127.0.0.1:${(wss.address() as { port: number }).port}/`, { reconnect: { retries: 5, minDelay: 20, maxDelay: 50 } });
    defer(() => ws.terminate());
    const events: string[] = [];
    ws.on("close", (code) => events.push(`close:${code}`));
    ws.on("reconnecting", (attempt) => events.push(`reconnecting:${attempt}`));
    const reopened = deferred();
    ws.on("reconnect", () => {
      events.push("reconnect");
      reopened.resolve();
    });
    for (const c of wss.clients) c.terminate();
    await withTimeout(reopened.promise, 5000, "reconnect");
    expect(events).toEqual(["close:1006", "reconnecting:1", "reconnect"]);
    expect(ws.readyState).toBe(1);
    expect(ws.bufferedAmount).toBe(0);
    expect(await echoOnce(ws, "again")).toBe("again");
  });

  it("does not reopen after a normal close by the server, nor after our own close()", async () => {
    const wss = await wsEcho();
    const port = (wss.address() as { port: number }).port;
    let connections = 0;
    wss.on("connection", () => connections++);
    const a = await connect(`ws://127.0.0.1:${port}/`, { reconnect: { retries: 5, minDelay: 10 } });
    const aClosed = once(a, "close");
    for (const c of wss.clients) c.close(1000, "done");
    expect((await withTimeout(aClosed, 5000, "close"))[0]).toBe(1000);
    const b = await connect(`ws://127.0.0.1:${port}/`, { reconnect: { retries: 5, minDelay: 10 } });
    const bClosed = once(b, "close");
    b.close();
    await withTimeout(bClosed, 5000, "close");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(connections).toBe(2);
    expect(a.readyState).toBe(3);
    expect(b.readyState).toBe(3);
  });

  it("close() while waiting to reconnect ends it: closed, no further attempt, no reconnectFailed", async () => {
    const wss = await wsEcho();
    let connections = 0;
    wss.on("connection", () => connections++);
    const ws = await connect(`ws://127.0.0.1:${(wss.address() as { port: number }).port}/`, { reconnect: { retries: 5, minDelay: 300, maxDelay: 300 } });
    const waiting = deferred();
    ws.on("reconnecting", () => waiting.resolve());
    const failed = deferred<ConnectError>();
    ws.on("reconnectFailed", (err) => failed.resolve(err));
    for (const c of wss.clients) c.terminate();
    await withTimeout(waiting.promise, 5000, "reconnecting");
    expect(ws.readyState).toBe(0);
    ws.close();
    expect(ws.readyState).toBe(3);
    let failedEvent = false;
    failed.promise.then(() => (failedEvent = true), () => {});
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(connections).toBe(1);
    expect(failedEvent, "close() asked for it: no reconnectFailed").toBe(false);
  });

  it("validates the policy; the WHATWG WebSocket refuses it", async () => {
    await expect(connect("ws://127.0.0.1/", { reconnect: {} as never })).rejects.toMatchObject({ code: "ERR_INVALID_ARG_TYPE" });
    await expect(connect("ws://127.0.0.1/", { reconnect: { retries: -1 } })).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
    await expect(connect("ws://127.0.0.1/", { reconnect: { retries: 1, minDelay: 500, maxDelay: 100 } })).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
    expect(() => new WebSocket("ws://127.0.0.1/", [], { reconnect: { retries: 1 } } as never)).toThrow(TypeError);
  });
});

describe("a temporary drop and a final close are told apart", () => {
  it("close's third argument, willReconnect, is true for a drop the client will reopen, false for its final close", async () => {
    const wss = await wsEcho();
    const port = (wss.address() as { port: number }).port;
    const ws = await connect(`ws://127.0.0.1:${port}/`, { reconnect: { retries: 5, minDelay: 20, maxDelay: 50 } });
    defer(() => ws.terminate());
    const closes: [number, boolean][] = [];
    ws.on("close", (code, _reason, willReconnect) => closes.push([code, willReconnect]));
    const reopened = once(ws, "reconnect");
    for (const c of wss.clients) c.terminate();
    await withTimeout(reopened, 5000, "reconnect");
    ws.close(1000);
    await withTimeout(once(ws, "close"), 5000, "final close");
    expect(closes).toEqual([
      [1006, true],
      [1000, false],
    ]);
  });
});

describe("connect(url, { signal })", () => {
  it("an AbortSignal aborted while connecting rejects with EABORTED, the signal's reason as cause", async () => {
    // A server that accepts TCP but never answers the upgrade keeps the client connecting.
    const net = createNetServer(() => {});
    net.listen(0, "127.0.0.1");
    await once(net, "listening");
    defer(() => net.close());
    const controller = new AbortController();
    const pending = connect(`ws://127.0.0.1:${(net.address() as { port: number }).port}/`, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error("user gave up")), 100);
    const err = await withTimeout(pending.then(() => undefined, (e: unknown) => e as ConnectError), 5000, "the rejection");
    expect(err).toBeInstanceOf(ConnectError);
    expect([err!.reason, err!.code]).toEqual(["aborted", "EABORTED"]);
    expect((err!.cause as Error).message).toBe("user gave up");
  });

  it("an already aborted signal rejects at once; a bad signal is ERR_INVALID_ARG_TYPE", async () => {
    const server = await startEchoServer(defer);
    await expect(connect(urlOf(server), { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: "EABORTED" });
    await expect(connect(urlOf(server), { signal: {} as AbortSignal })).rejects.toMatchObject({ code: "ERR_INVALID_ARG_TYPE" });
  });

  it("aborting cancels the wait for a reconnect (reconnectFailed, EABORTED) and closes an open connection for good", async () => {
    const wss = await wsEcho();
    const port = (wss.address() as { port: number }).port;
    const controller = new AbortController();
    const ws = await connect(`ws://127.0.0.1:${port}/`, { signal: controller.signal, reconnect: { retries: 5, minDelay: 2000, maxDelay: 2000 } });
    defer(() => ws.terminate());
    const waiting = once(ws, "reconnecting");
    for (const c of wss.clients) c.terminate();
    await withTimeout(waiting, 5000, "reconnecting");
    const failed = once(ws, "reconnectFailed");
    controller.abort();
    const [err] = (await withTimeout(failed, 1000, "reconnectFailed at once")) as [ConnectError];
    expect(err.code).toBe("EABORTED");
    expect(ws.readyState).toBe(3);

    const other = new AbortController();
    const open = await connect(`ws://127.0.0.1:${port}/`, { signal: other.signal, reconnect: { retries: 5 } });
    const closed = once(open, "close");
    other.abort();
    const [code, , willReconnect] = (await withTimeout(closed, 5000, "close")) as [number, string, boolean];
    expect([code, willReconnect]).toEqual([1000, false]);
  });
});
