// Calls a user can get wrong throw at once, with a stable `code`: the `ws` package's call
// shapes (an options object or a callback where lwsnode takes booleans), wrong data, bad
// topics, oversized pings, a host that does not resolve.
import { describe, expect, it } from "vitest";
import { connect, ListenError, PublishStatus, SendStatus, type ClientWebSocket, type Server, type ServerWebSocket } from "../lib/index.js";
import { createServerRejection, startEchoServer, thrown, urlOf, useCleanup, waitFor } from "./helpers.js";

const defer = useCleanup();

// A server, one lwsnode client connected to it, and the server's side of that connection.
async function pair(): Promise<{ server: Server; client: ClientWebSocket; ws: ServerWebSocket }> {
  let ws: ServerWebSocket | undefined;
  const server = await startEchoServer(defer, { open: (s) => void (ws = s) });
  const client = await connect(urlOf(server));
  defer(() => client.terminate());
  await waitFor(() => ws !== undefined, 5000, "open");
  return { server, client, ws: ws! };
}

const asAny = <T>(v: unknown): T => v as T;

describe("send/publish/broadcast refuse the ws package's call shapes", () => {
  it("ws.send(\"hi\", { binary: false }) and ws.send(\"hi\", callback) throw a TypeError naming lwsnode's form; nothing is sent", async () => {
    const { client, ws } = await pair();
    const received: string[] = [];
    client.on("message", (d) => received.push(d.toString()));
    for (const socket of [ws, client]) {
      for (const [args, name] of [
        [["hi", { binary: false }], "isBinary"],
        [["hi", () => {}], "isBinary"],
        [["hi", false, { compress: true }], "compress"],
        [["hi", true, () => {}], "compress"],
        [["hi", 1], "isBinary"],
        [["hi", "true"], "isBinary"],
      ] as const) {
        const err = thrown(() => (socket.send as (...a: unknown[]) => unknown)(...args));
        expect(err).toBeInstanceOf(TypeError);
        expect(err.code).toBe("ERR_INVALID_ARG_TYPE");
        expect(err.message).toContain(`"${name}"`);
        expect(err.message).toContain("ws.send(data, isBinary?, compress?)");
      }
    }
    expect(thrown(() => ws.send("hi", asAny({ binary: false }))).message).toMatch(/no options object or callback, unlike ws/);
    // The right form still works, and nothing of the wrong calls went out.
    expect(ws.send("ok", false)).toBe(SendStatus.SUCCESS);
    await waitFor(() => received.length === 1, 5000, "the message");
    expect(received).toEqual(["ok"]);
  });

  it("send({}) and send(42) throw ERR_INVALID_ARG_TYPE, before backpressure or state checks (even once closed)", async () => {
    const { client, ws } = await pair();
    for (const socket of [ws, client]) {
      for (const data of [{}, 42, null, undefined, [1, 2]]) {
        const err = thrown(() => socket.send(asAny(data)));
        expect(err).toBeInstanceOf(TypeError);
        expect(err.code).toBe("ERR_INVALID_ARG_TYPE");
        expect(err.message).toContain('"data"');
      }
    }
    client.close();
    await waitFor(() => ws.readyState === 3, 5000, "closed");
    expect(ws.send("late")).toBe(SendStatus.CLOSED);
    expect(thrown(() => ws.send(asAny({}))).code).toBe("ERR_INVALID_ARG_TYPE");
    expect(thrown(() => ws.send("late", asAny(() => {}))).code).toBe("ERR_INVALID_ARG_TYPE");
    expect(thrown(() => client.send("late", asAny({ binary: true }))).code).toBe("ERR_INVALID_ARG_TYPE");
  });

  it("publish and broadcast check their data and flags the same way", async () => {
    const { server, ws } = await pair();
    ws.subscribe("t");
    const calls: [string, () => unknown][] = [
      ["server.publish", () => server.publish("t", "x", asAny({ binary: false }))],
      ["server.publish", () => server.publish("t", asAny({}))],
      ["server.publish", () => server.publish("t", "x", false, asAny(() => {}))],
      ["ws.publish", () => ws.publish("t", "x", asAny(() => {}))],
      ["ws.publish", () => ws.publish("t", asAny(7))],
      ["server.broadcast", () => server.broadcast("x", asAny({ binary: true }))],
      ["server.broadcast", () => server.broadcast(asAny(null))],
    ];
    for (const [form, call] of calls) {
      const err = thrown(call);
      expect(err).toBeInstanceOf(TypeError);
      expect(err.code).toBe("ERR_INVALID_ARG_TYPE");
      expect(err.message).toContain(form);
    }
    expect(server.publish("t", "fine", false, true)).toBe(PublishStatus.SUCCESS);
  });
});

describe("every error has a code", () => {
  it("subscribe(\"\"), a topic over 1024 characters, and a topic that is not a string", async () => {
    const { server, ws } = await pair();
    for (const call of [() => ws.subscribe(""), () => ws.unsubscribe("x".repeat(1025)), () => server.publish("", "x"), () => ws.publish("", "x")]) {
      const err = thrown(call);
      expect(err).toBeInstanceOf(RangeError);
      expect(err.code).toBe("ERR_OUT_OF_RANGE");
    }
    const err = thrown(() => ws.subscribe(asAny(1)));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe("ERR_INVALID_ARG_TYPE");
    expect(thrown(() => server.publish(asAny(null), "x")).code).toBe("ERR_INVALID_ARG_TYPE");
  });

  it("a ping payload over 125 bytes is ERR_OUT_OF_RANGE, one that is not data ERR_INVALID_ARG_TYPE (server and client)", async () => {
    const { client, ws } = await pair();
    for (const socket of [ws, client]) {
      const err = thrown(() => socket.ping("x".repeat(126)));
      expect(err).toBeInstanceOf(RangeError);
      expect(err.code).toBe("ERR_OUT_OF_RANGE");
      expect(thrown(() => socket.ping(new Uint8Array(200))).code).toBe("ERR_OUT_OF_RANGE");
      expect(thrown(() => socket.ping(asAny({}))).code).toBe("ERR_INVALID_ARG_TYPE");
      expect(socket.ping("x".repeat(125))).toBe(true);
    }
  });

  it("createServer on a host that does not resolve rejects with a ListenError carrying the DNS code", async () => {
    const err = await createServerRejection(defer, { host: "no-such-host.invalid" });
    expect(err).toBeInstanceOf(ListenError);
    expect(err.code).toMatch(/^(ENOTFOUND|EAI_AGAIN|EAI_FAIL)$/);
    expect((err as ListenError).host).toBe("no-such-host.invalid");
    expect(err.message).toContain("no-such-host.invalid");
  });

  it("lib/ raises no error without a code: every `throw new` builds a coded error", async () => {
    const { readdirSync, readFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const dir = new URL("../lib/", import.meta.url).pathname;
    const offenders: string[] = [];
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
      readFileSync(join(dir, file), "utf8")
        .split("\n")
        .forEach((text, i) => {
          // Built-in errors need a code attached (withCode); our classes and DOMException carry one.
          if (/throw new (Error|TypeError|RangeError)\(/.test(text)) offenders.push(`${file}:${i + 1}: ${text.trim()}`);
        });
    }
    expect(offenders).toEqual([]);
  });
});
