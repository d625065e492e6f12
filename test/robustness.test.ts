// Edge cases of the public API that once went wrong: every one here failed before its fix.
import { once } from "node:events";
import { beforeAll, describe, expect, it } from "vitest";
import { connect, SendStatus, WebSocket } from "../lib/index.js";
import { deferred, describeChild, expectExitedBySelf, line, msFromLineToExit, requireDist, runChild, startServer, startSilentTcpServer, urlOf, useCleanup, withTimeout } from "./helpers.js";

const defer = useCleanup();

describe("send() validates its data before anything else", () => {
  it("a server socket over maxBackpressure, or closed, still throws TypeError for data it cannot send", async () => {
    const opened = deferred<import("../lib/index.js").ServerWebSocket>();
    const server = await startServer(defer, { maxBackpressure: 1024, open: (ws) => opened.resolve(ws) });
    const client = await connect(urlOf(server));
    defer(() => client.terminate());
    const ws = await withTimeout(opened.promise, 5000, "open");
    const big = Buffer.alloc(1024 * 1024);
    let status: SendStatus = ws.send(big);
    expect(status).not.toBe(SendStatus.DROPPED); // accepted: nothing buffered yet
    // One JS turn queues faster than the I/O thread writes: soon over the limit.
    for (let i = 0; i < 200 && status !== SendStatus.DROPPED; i++) status = ws.send(big);
    expect(status).toBe(SendStatus.DROPPED);
    expect(() => ws.send(42 as never)).toThrow(expect.objectContaining({ name: "TypeError", code: "ERR_INVALID_ARG_TYPE" }));
    ws.close();
    expect(() => ws.send({} as never)).toThrow(TypeError);
  });

  it("a client connection, closing or closed, throws TypeError for bad data (and asks for no drain)", async () => {
    const server = await startServer(defer, {});
    const client = await connect(urlOf(server));
    client.close();
    expect(() => client.send(null as never)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG_TYPE" }));
    await once(client, "close");
    expect(() => client.send(7 as never)).toThrow(TypeError);
    expect(client.send("ok")).toBe(SendStatus.CLOSED);
  });
});

describe("WHATWG WebSocket: a Blob that cannot be read", () => {
  it("fails the connection (error event, close 1011) and leaves bufferedAmount at 0, nothing thrown", async () => {
    const closes: number[] = [];
    const server = await startServer(defer, { close: (_ws, code) => closes.push(code) });
    const ws = new WebSocket(urlOf(server));
    await new Promise((resolve) => (ws.onopen = resolve));
    class Unreadable extends Blob {
      override arrayBuffer(): Promise<ArrayBuffer> {
        return Promise.reject(new Error("disk gone"));
      }
    }
    const errors: string[] = [];
    ws.onerror = (e) => errors.push((e as unknown as { message: string }).message);
    const closed = new Promise<{ code: number }>((resolve) => (ws.onclose = (e) => resolve(e)));
    ws.send(new Unreadable(["12345678"]));
    expect(ws.bufferedAmount).toBe(8);
    const { code } = await withTimeout(closed, 5000, "close");
    expect(code).toBe(1011);
    expect(errors).toEqual(["a Blob could not be read: disk gone"]);
    expect(ws.bufferedAmount).toBe(0);
    await withTimeout(
      (async () => {
        while (closes.length === 0) await new Promise((r) => setTimeout(r, 10));
      })(),
      5000,
      "the server's close",
    );
    expect(closes).toEqual([1011]);
  });
});

describe("nothing holds the process that should not", () => {
  beforeAll(requireDist);

  it("an unref()'d WebSocket still connecting (to a server that never answers) lets the process exit at once", { timeout: 20_000 }, async () => {
    const { port } = await startSilentTcpServer(defer);
    const r = await runChild("must-exit.mjs", ["unref-connecting", String(port)], 10_000);
    expectExitedBySelf(r);
    expect(line(r, "CONNECTING").value).toBe(0);
    expect(msFromLineToExit(r, "CONNECTING"), describeChild(r)).toBeLessThan(3000);
  });

  it("createServer() rejects when the native listen throws, and the server does not keep the process alive", { timeout: 20_000 }, async () => {
    const r = await runChild("must-exit.mjs", ["listen-throws"], 10_000);
    expectExitedBySelf(r);
    expect(line(r, "REJECTED").value).toBe("injected listen failure");
    expect(line(r, "SECOND").value).toBe(true);
    expect(msFromLineToExit(r, "CLOSED"), describeChild(r)).toBeLessThan(2000);
  });
});
