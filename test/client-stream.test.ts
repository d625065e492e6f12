// The client for code that pipes data: `for await (const msg of ws)` and
// createWebSocketStream(ws), a Duplex as in `ws`.
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { connect, createWebSocketStream, type ServerWebSocket } from "../lib/index.js";
import { sha256, startEchoServer, startServer, urlOf, useCleanup, waitFor, withTimeout } from "./helpers.js";

const defer = useCleanup();

describe("for await (const msg of ws)", () => {
  it("yields every message with its type, in order, and ends when the connection closes", async () => {
    const server = await startServer(defer, {
      open(ws) {
        ws.send("one");
        ws.send(Buffer.from([1, 2]));
        ws.send("three");
        ws.close(1000, "done");
      },
    });
    const ws = await connect(urlOf(server));
    const got: [string, boolean][] = [];
    await withTimeout(
      (async () => {
        for await (const { data, isBinary } of ws) got.push([isBinary ? data.toString("hex") : data.toString(), isBinary]);
      })(),
      5000,
      "the loop to end",
    );
    expect(got).toEqual([["one", false], ["0102", true], ["three", false]]);
    expect(ws.readyState).toBe(3);
  });

  it("break stops listening and leaves the connection open", async () => {
    const server = await startEchoServer(defer);
    const ws = await connect(urlOf(server));
    defer(() => ws.terminate());
    ws.send("a");
    for await (const msg of ws) {
      expect(msg.data.toString()).toBe("a");
      break;
    }
    expect(ws.listenerCount("message")).toBe(0);
    expect(ws.readyState).toBe(1);
  });
});

describe("createWebSocketStream(ws)", () => {
  it("pipes 2 MiB through an echo server and back intact; ending the input closes with 1000", { timeout: 30_000 }, async () => {
    const closes: number[] = [];
    const server = await startEchoServer(defer, { close: (_ws, code) => void closes.push(code) });
    const ws = await connect(urlOf(server));
    const input = randomBytes(2 * 1024 * 1024);
    const chunks = Array.from({ length: 64 }, (_, i) => input.subarray(i * 32768, (i + 1) * 32768));
    const duplex = createWebSocketStream(ws);
    const received: Buffer[] = [];
    let total = 0;
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        received.push(chunk);
        total += chunk.length;
        // Everything came back: end our side, which closes the connection, which ends the read side.
        if (total === input.length) duplex.end();
        cb();
      },
    });
    const writing = (async () => {
      for (const c of chunks) if (!duplex.write(c)) await once(duplex, "drain");
    })();
    await withTimeout(Promise.all([pipeline(duplex, sink), writing]), 20_000, "the echo");
    expect(sha256(Buffer.concat(received))).toBe(sha256(input));
    await waitFor(() => closes.length === 1, 5000, "the server's close");
    expect(closes).toEqual([1000]);
  });

  it("strings go as text messages, Buffers as binary", async () => {
    const seen: [string, boolean][] = [];
    const server = await startServer(defer, { message: (_ws: ServerWebSocket, d, isBinary) => void seen.push([d.toString(), isBinary]) });
    const ws = await connect(urlOf(server));
    const duplex = createWebSocketStream(ws);
    duplex.write("text");
    duplex.write(Buffer.from("bytes"));
    await waitFor(() => seen.length === 2, 5000, "two messages");
    expect(seen).toEqual([["text", false], ["bytes", true]]);
    duplex.destroy();
    await waitFor(() => ws.readyState === 3, 5000, "terminated");
  });

  it("a dropped connection destroys the stream with an error", async () => {
    let server_ws: ServerWebSocket | undefined;
    const server = await startServer(defer, { open: (s) => void (server_ws = s) });
    const ws = await connect(urlOf(server));
    const duplex = createWebSocketStream(ws);
    const failed = new Promise<Error>((resolve) => duplex.on("error", resolve));
    duplex.resume();
    await waitFor(() => server_ws !== undefined, 5000, "open");
    server_ws!.terminate();
    expect((await withTimeout(failed, 5000, "the error")).message).toContain("1006");
  });
});
