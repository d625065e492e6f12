// The WHATWG WebSocket: what code written for browsers or Node 22's global WebSocket relies on.
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { CloseEvent, WebSocket } from "../lib/index.js";
import { deferred, startEchoServer, startServer, urlOf, useCleanup, withTimeout } from "./helpers.js";

const defer = useCleanup();

/** A WebSocket whose every event is recorded as "type" or "type:detail", in order. */
function recorded(url: string, protocols?: string | string[]) {
  const ws = new WebSocket(url, protocols);
  defer(() => {
    if (ws.readyState < WebSocket.CLOSING) ws.close();
  });
  const log: string[] = [];
  const events: Event[] = [];
  const closed = deferred<CloseEvent>();
  const opened = deferred<void>();
  for (const type of ["open", "message", "error", "close"]) {
    ws.addEventListener(type, (e) => {
      events.push(e);
      log.push(type === "message" ? `message:${String((e as MessageEvent).data)}` : type === "close" ? `close:${(e as CloseEvent).code}` : type);
      if (type === "open") opened.resolve();
      if (type === "close") closed.resolve(e as CloseEvent);
    });
  }
  return {
    ws,
    log,
    events,
    opened: () => withTimeout(opened.promise, 5000, "open event"),
    closed: () => withTimeout(closed.promise, 8000, "close event"),
  };
}

async function until(predicate: () => boolean, what: string): Promise<void> {
  await withTimeout(
    new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (predicate()) {
          clearInterval(timer);
          resolve();
        }
      }, 5);
    }),
    8000,
    what,
  );
}

describe("WHATWG WebSocket", () => {
  it("fires open, then each message, then close, with readyState following", async () => {
    const server = await startServer(defer, {
      open(ws) {
        ws.send("one");
        ws.send("two");
        ws.close(1000, "done");
      },
    });
    const r = recorded(urlOf(server));
    expect(r.ws.readyState).toBe(WebSocket.CONNECTING);
    expect(r.ws.url).toBe(urlOf(server));
    const close = await r.closed();
    expect(r.log).toEqual(["open", "message:one", "message:two", "close:1000"]);
    expect(close).toBeInstanceOf(CloseEvent);
    expect(close.reason).toBe("done");
    expect(close.wasClean).toBe(true);
    expect(r.ws.readyState).toBe(WebSocket.CLOSED);
  });

  it("onopen/onmessage/onclose handlers work alongside listeners and can be replaced", async () => {
    const server = await startEchoServer(defer);
    const ws = new WebSocket(urlOf(server));
    defer(() => ws.close());
    const seen: string[] = [];
    ws.onopen = () => {
      seen.push("onopen");
      ws.send("hi");
    };
    ws.onmessage = () => seen.push("first handler");
    ws.onmessage = (e) => {
      seen.push(`onmessage:${String(e.data)}`);
      ws.close(3001, "by handler");
    };
    ws.addEventListener("message", () => seen.push("listener"));
    const close = deferred<CloseEvent>();
    ws.onclose = (e) => close.resolve(e);
    expect(typeof ws.onmessage).toBe("function");
    const e = await withTimeout(close.promise, 5000, "onclose");
    expect(seen).toEqual(["onopen", "onmessage:hi", "listener"]);
    expect(e.code).toBe(3001);
    expect(e.reason).toBe("by handler");
    ws.onmessage = null;
    expect(ws.onmessage).toBeNull();
  });

  it("delivers text as strings and binary per binaryType (blob by default, as the standard says; arraybuffer; nodebuffer)", async () => {
    const server = await startEchoServer(defer);
    const r = recorded(urlOf(server));
    expect(r.ws.binaryType).toBe("blob");
    await r.opened();
    const first = deferred<unknown>();
    r.ws.addEventListener("message", (e) => first.resolve((e as MessageEvent).data), { once: true });
    r.ws.send(new Uint8Array([7, 8]));
    const blob = await withTimeout(first.promise, 5000, "the first echo");
    expect(blob).toBeInstanceOf(Blob);
    expect([...new Uint8Array(await (blob as Blob).arrayBuffer())]).toEqual([7, 8]);
    r.ws.binaryType = "nodebuffer";
    const datas: unknown[] = [];
    r.ws.addEventListener("message", (e) => datas.push((e as MessageEvent).data));
    r.ws.send("text");
    r.ws.send(new Uint8Array([1, 2, 3]));
    await until(() => datas.length === 2, "2 messages");
    r.ws.binaryType = "arraybuffer";
    r.ws.send(new Uint8Array([4, 5]));
    await until(() => datas.length === 3, "3 messages");
    r.ws.binaryType = "blob";
    r.ws.send(new Uint8Array([6]).buffer);
    await until(() => datas.length === 4, "4 messages");
    r.ws.binaryType = "bogus" as never; // ignored, as in browsers
    expect(r.ws.binaryType).toBe("blob");
    expect(datas[0]).toBe("text");
    expect(Buffer.isBuffer(datas[1])).toBe(true);
    expect([...(datas[1] as Buffer)]).toEqual([1, 2, 3]);
    expect(datas[2]).toBeInstanceOf(ArrayBuffer);
    expect([...new Uint8Array(datas[2] as ArrayBuffer)]).toEqual([4, 5]);
    expect(datas[3]).toBeInstanceOf(Blob);
    expect([...new Uint8Array(await (datas[3] as Blob).arrayBuffer())]).toEqual([6]);
  });

  it("sends Blobs in order with the messages around them", async () => {
    const server = await startEchoServer(defer);
    const r = recorded(urlOf(server));
    await r.opened();
    r.ws.binaryType = "arraybuffer";
    const got: string[] = [];
    r.ws.addEventListener("message", (e) => {
      const d = (e as MessageEvent).data as string | ArrayBuffer;
      got.push(typeof d === "string" ? d : `bin:${Buffer.from(d).toString()}`);
    });
    r.ws.send("a");
    r.ws.send(new Blob(["b"]));
    expect(r.ws.bufferedAmount).toBeGreaterThanOrEqual(1);
    r.ws.send("c");
    await until(() => got.length === 3, "3 echoes");
    expect(got).toEqual(["a", "bin:b", "c"]);
  });

  it("negotiates a subprotocol (protocol) with the ws server", async () => {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", handleProtocols: (offered) => (offered.has("b") ? "b" : false) });
    await once(wss, "listening");
    defer(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    defer(() => {
      for (const c of wss.clients) c.terminate();
    });
    const r = recorded(`ws://127.0.0.1:${(wss.address() as { port: number }).port}/`, ["a", "b"]);
    await r.opened();
    expect(r.ws.protocol).toBe("b");
    expect(r.ws.extensions).toBe("");
  });

  it("throws as the standard says: bad URL or protocols (SyntaxError), send while connecting (InvalidStateError), bad close code (InvalidAccessError)", async () => {
    const name = (fn: () => unknown): string => {
      try {
        fn();
      } catch (err) {
        return (err as DOMException).name;
      }
      return "no error";
    };
    expect(name(() => new WebSocket("nope"))).toBe("SyntaxError");
    expect(name(() => new WebSocket("ftp://127.0.0.1/"))).toBe("SyntaxError");
    expect(name(() => new WebSocket("ws://127.0.0.1/#x"))).toBe("SyntaxError");
    expect(name(() => new WebSocket("ws://127.0.0.1/", ["a", "a"]))).toBe("SyntaxError");
    const server = await startEchoServer(defer);
    const r = recorded(urlOf(server));
    expect(name(() => r.ws.send("too early"))).toBe("InvalidStateError");
    await r.opened();
    expect(name(() => r.ws.close(1001))).toBe("InvalidAccessError");
    expect(name(() => r.ws.close(1000, "x".repeat(124)))).toBe("SyntaxError");
    r.ws.close();
    expect(r.ws.readyState).toBe(WebSocket.CLOSING);
    r.ws.send("ignored once closing");
    expect(r.ws.bufferedAmount).toBe("ignored once closing".length);
    expect((await r.closed()).code).toBe(1005);
  });

  it("close() without a code sends a close frame with no status: lwsnode's and ws's servers see 1005; a reason alone means 1000", async () => {
    const seen: number[] = [];
    const server = await startServer(defer, { close: (_ws, code) => void seen.push(code) });
    const r = recorded(urlOf(server));
    await r.opened();
    r.ws.close();
    const close = await r.closed();
    expect([close.code, close.wasClean]).toEqual([1005, true]);
    await until(() => seen.length === 1, "the server's close handler");
    expect(seen).toEqual([1005]);

    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await once(wss, "listening");
    defer(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    const wsCodes: number[] = [];
    wss.on("connection", (s) => s.on("close", (code) => wsCodes.push(code)));
    const port = (wss.address() as { port: number }).port;
    const plain = recorded(`ws://127.0.0.1:${port}/`);
    await plain.opened();
    plain.ws.close();
    expect((await plain.closed()).code).toBe(1005);
    const withReason = recorded(`ws://127.0.0.1:${port}/`);
    await withReason.opened();
    withReason.ws.close(undefined, "bye");
    expect(await withReason.closed()).toMatchObject({ code: 1000, reason: "bye" });
    await until(() => wsCodes.length === 2, "ws's close events");
    expect(wsCodes).toEqual([1005, 1000]);
  });

  it("a connection that cannot be opened fires error, then close with 1006 (not clean)", async () => {
    const r = recorded("ws://127.0.0.1:1/");
    const close = await r.closed();
    expect(r.log).toEqual(["error", "close:1006"]);
    expect(close.wasClean).toBe(false);
    expect((r.events[0] as Event & { error: { reason: string } }).error.reason).toBe("refused");
    expect(r.ws.readyState).toBe(WebSocket.CLOSED);
  });

  it("close() while connecting fails the connection: error, then close 1006", async () => {
    const server = await startEchoServer(defer);
    const r = recorded(urlOf(server));
    r.ws.close();
    expect(r.ws.readyState).toBe(WebSocket.CLOSING);
    await r.closed();
    expect(r.log).toEqual(["error", "close:1006"]);
  });

  it("a dropped connection fires error, then close with 1006", async () => {
    const server = await startServer(defer, { open: (ws) => ws.terminate() });
    const r = recorded(urlOf(server));
    const close = await r.closed();
    expect(r.log).toEqual(["open", "error", "close:1006"]);
    expect(close.wasClean).toBe(false);
  });
});
