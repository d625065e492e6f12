// Server and socket lifecycle: start, close, options, close codes, use after close, paths.
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { describe, expect, it } from "vitest";
import {
  ClosedError,
  ListenError,
  ReadyState,
  SendStatus,
  createServer,
  type Server,
  type ServerOptions,
  type ServerWebSocket,
} from "../lib/index.js";
import {
  closed,
  deferred,
  describeChild,
  line,
  nextMessage,
  openClient,
  openTracked,
  rawConnect,
  requireDist,
  runChild,
  startEchoServer,
  startRecordingServer,
  startServer,
  upgradeStatus,
  urlOf,
  useCleanup,
  waitFor,
  withTimeout,
  thrown,
  type Recording,
} from "./helpers.js";

const defer = useCleanup();

/** The close the close handler saw, once it saw exactly one. */
async function onlyClose(closes: Recording["closes"]): Promise<Recording["closes"][number]> {
  await waitFor(() => closes.length === 1, 5000, "the close handler");
  return closes[0]!;
}

async function echoOnce(server: Server, text = "ping"): Promise<void> {
  const client = await openClient(urlOf(server));
  try {
    client.send(text);
    const reply = await nextMessage(client);
    expect(reply.data.toString()).toBe(text);
  } finally {
    client.terminate();
  }
}

function listenNet(host: string): Promise<NetServer> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once("error", reject);
    s.listen(0, host, () => resolve(s));
  });
}

function closeNet(s: NetServer): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

/** Awaits a promise expected to reject and returns the reason. */
async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  const result = await withTimeout(
    p.then(
      (v) => ({ ok: true as const, v }),
      (e: unknown) => ({ ok: false as const, e }),
    ),
    5000,
    "the promise to settle",
  );
  if (result.ok) {
    // Don't leak a server that should never have started.
    const maybe = result.v as { close?: () => Promise<void> };
    if (maybe && typeof maybe.close === "function") await maybe.close();
    throw new Error("expected a rejection, but it resolved");
  }
  return result.e as Error & { code?: string };
}


describe("createServer", () => {
  it("resolves to a listening server on an ephemeral port", async () => {
    const server = await startEchoServer(defer);
    expect(server.listening).toBe(true);
    expect(server.port).toBeGreaterThan(0);
    expect(server.port).toBeLessThan(65536);
    expect(server.host).toBe("127.0.0.1");
    expect(server.connections).toBe(0);
    await echoOnce(server);
  });

  it("runs two servers in one process on different ports, both echoing", async () => {
    const a = await startServer(defer, { message: (ws, d) => ws.send("A:" + d.toString()) });
    const b = await startServer(defer, { message: (ws, d) => ws.send("B:" + d.toString()) });
    expect(a.port).not.toBe(b.port);
    const ca = await openTracked(defer, urlOf(a));
    const cb = await openTracked(defer, urlOf(b));
    ca.send("1");
    cb.send("2");
    expect((await nextMessage(ca)).data.toString()).toBe("A:1");
    expect((await nextMessage(cb)).data.toString()).toBe("B:2");
    // Closing one leaves the other working.
    await withTimeout(a.close(), 5000, "a.close()");
    expect((await closed(ca)).code).toBe(1001);
    cb.send("3");
    expect((await nextMessage(cb)).data.toString()).toBe("B:3");
  });

  it("listens on a fixed port when asked", async () => {
    const probe = await listenNet("127.0.0.1");
    const port = (probe.address() as { port: number }).port;
    await closeNet(probe);
    const server = await startEchoServer(defer, { port });
    expect(server.port).toBe(port);
    await echoOnce(server);
  });

  it("resolves a host name such as localhost", async () => {
    const server = await startEchoServer(defer, { host: "localhost" });
    expect(server.listening).toBe(true);
    expect(server.port).toBeGreaterThan(0);
  });

  it("counts open connections", async () => {
    const { server, closes } = await startRecordingServer(defer);
    const c1 = await openTracked(defer, urlOf(server));
    const c2 = await openTracked(defer, urlOf(server));
    await waitFor(() => server.connections === 2, 5000, "connections === 2");
    c1.close();
    await waitFor(() => closes.length === 1, 5000, "the first close handler");
    expect(server.connections).toBe(1);
    c2.close();
    await waitFor(() => closes.length === 2, 5000, "the second close handler");
    expect(server.connections).toBe(0);
  });
});

describe("listen errors", () => {
  it("rejects with ListenError EADDRINUSE when the port is taken on the same address", async () => {
    const net = await listenNet("127.0.0.1");
    defer(() => closeNet(net));
    const port = (net.address() as { port: number }).port;
    const err = await rejection(createServer({ port, host: "127.0.0.1" }));
    expect(err).toBeInstanceOf(ListenError);
    expect(err.name).toBe("ListenError");
    expect(err.code).toBe("EADDRINUSE");
    expect((err as ListenError).port).toBe(port);
  });

  it("rejects with EADDRINUSE when a wildcard listener holds the port", async () => {
    const net = await listenNet("0.0.0.0");
    defer(() => closeNet(net));
    const port = (net.address() as { port: number }).port;
    const err = await rejection(createServer({ port }));
    expect(err).toBeInstanceOf(ListenError);
    expect(err.code).toBe("EADDRINUSE");
  });

  it("rejects with EADDRINUSE when another lwsnode server holds the port, which keeps working", async () => {
    const first = await startEchoServer(defer);
    const err = await rejection(createServer({ port: first.port, host: "127.0.0.1" }));
    expect(err).toBeInstanceOf(ListenError);
    expect(err.code).toBe("EADDRINUSE");
    await echoOnce(first);
  });

  // 192.0.2.1 is TEST-NET-1: never an address of this machine, so bind() fails locally (no
  // traffic). Run in a child process: a listen that never settles must not wedge this one.
  for (const port of [45678, 0]) {
    it(`rejects with ListenError EADDRNOTAVAIL for an address not on this machine (port ${port}), and the next createServer works`, { timeout: 15_000 }, async () => {
      requireDist();
      const r = await runChild("listen-error.mjs", ["192.0.2.1", String(port)], 10_000);
      const result = line(r, "RESULT").value as { settled: string; code?: string; isListenError?: boolean };
      expect(result, describeChild(r)).toMatchObject({ settled: "rejected", isListenError: true, code: "EADDRNOTAVAIL" });
      expect(line(r, "NEXT").value, describeChild(r)).toBe("ok");
    });
  }

  it("a failed listen does not break the next createServer", async () => {
    const net = await listenNet("127.0.0.1");
    defer(() => closeNet(net));
    const port = (net.address() as { port: number }).port;
    await rejection(createServer({ port, host: "127.0.0.1" }));
    const server = await startEchoServer(defer);
    await echoOnce(server);
  });
});

describe("option validation", () => {
  const cases: [string, unknown, "TypeError" | "RangeError", string][] = [
    ["port -1", { port: -1 }, "RangeError", "ERR_OUT_OF_RANGE"],
    ["port 70000", { port: 70000 }, "RangeError", "ERR_OUT_OF_RANGE"],
    ["port 1.5", { port: 1.5 }, "RangeError", "ERR_OUT_OF_RANGE"],
    ["port NaN", { port: NaN }, "RangeError", "ERR_OUT_OF_RANGE"],
    ['port "x"', { port: "x" }, "TypeError", "ERR_INVALID_ARG_TYPE"],
    ['port "8080" (a numeric string)', { port: "8080" }, "TypeError", "ERR_INVALID_ARG_TYPE"],
    ["an unknown key", { prot: 8080 }, "TypeError", "ERR_INVALID_ARG_TYPE"],
    ["message not a function", { message: "echo" }, "TypeError", "ERR_INVALID_ARG_TYPE"],
    ["open not a function", { open: {} }, "TypeError", "ERR_INVALID_ARG_TYPE"],
    ["close not a function", { close: 1 }, "TypeError", "ERR_INVALID_ARG_TYPE"],
    ["drain not a function", { drain: true }, "TypeError", "ERR_INVALID_ARG_TYPE"],
    ["path not starting with /", { path: "chat" }, "RangeError", "ERR_OUT_OF_RANGE"],
    ["path not a string", { path: 5 }, "TypeError", "ERR_INVALID_ARG_TYPE"],
    ["host not a string", { host: 127 }, "TypeError", "ERR_INVALID_ARG_TYPE"],
    ["maxPayloadLength 0", { maxPayloadLength: 0 }, "RangeError", "ERR_OUT_OF_RANGE"],
    ["maxPayloadLength 2^32", { maxPayloadLength: 2 ** 32 }, "RangeError", "ERR_OUT_OF_RANGE"],
    ["maxBackpressure 0", { maxBackpressure: 0 }, "RangeError", "ERR_OUT_OF_RANGE"],
    ["closeTimeout -1", { closeTimeout: -1 }, "RangeError", "ERR_OUT_OF_RANGE"],
    ['closeTimeout "1s"', { closeTimeout: "1s" }, "TypeError", "ERR_INVALID_ARG_TYPE"],
    ["options null", null, "TypeError", "ERR_INVALID_ARG_TYPE"],
    ["options a string", "port=1", "TypeError", "ERR_INVALID_ARG_TYPE"],
  ];
  for (const [name, options, type, code] of cases) {
    it(`rejects ${name} with ${type} ${code}`, async () => {
      const err = await rejection(createServer(options as ServerOptions));
      expect(err).toBeInstanceOf(type === "TypeError" ? TypeError : RangeError);
      expect(err.code).toBe(code);
      expect(err.message.length).toBeGreaterThan(0);
    });
  }

  it("names the offending option in the message", async () => {
    expect((await rejection(createServer({ port: 70000 }))).message).toMatch(/port/);
    expect((await rejection(createServer({ bogusOption: 1 } as ServerOptions))).message).toMatch(/bogusOption/);
  });

  it("rejects asynchronously rather than throwing synchronously", () => {
    let p: Promise<unknown> | undefined;
    expect(() => {
      p = createServer({ port: -1 });
    }).not.toThrow();
    return expect(p).rejects.toBeInstanceOf(RangeError);
  });

  it("accepts every valid option together", async () => {
    const server = await startEchoServer(defer, {
      port: 0,
      host: "127.0.0.1",
      path: "/ws",
      maxPayloadLength: 1,
      maxBackpressure: 1,
      closeTimeout: 0,
      open() {},
      close() {},
      drain() {},
    });
    expect(server.listening).toBe(true);
  });
});

describe("server.close()", () => {
  it("closes live clients with 1001, runs every close handler, resolves and frees the port", { timeout: 15_000 }, async () => {
    const { server, sockets, closes } = await startRecordingServer(defer);
    const port = server.port;
    const clients = await Promise.all([1, 2, 3].map(() => openTracked(defer, urlOf(server))));
    await waitFor(() => sockets.length === 3, 5000, "three open handlers");
    for (const c of clients) {
      c.send("hello");
      expect((await nextMessage(c)).data.toString()).toBe("hello");
    }
    const clientCloses = clients.map((c) => closed(c, 8000));
    const closing = server.close();
    expect(server.listening).toBe(false);
    expect(server.close()).toBe(closing); // the same promise again
    await withTimeout(closing, 8000, "server.close()");
    // Every socket's close handler has run by the time close() resolves.
    expect(closes).toHaveLength(3);
    expect(new Set(closes.map((c) => c.ws))).toEqual(new Set(sockets));
    for (const c of closes) expect(c.code).toBe(1001);
    for (const ws of sockets) expect(ws.readyState).toBe(ReadyState.CLOSED);
    expect(server.listening).toBe(false);
    expect(server.connections).toBe(0);
    const seen = await Promise.all(clientCloses);
    for (const s of seen) expect(s.code).toBe(1001);
    // The port is free: a new server can take it.
    const again = await startEchoServer(defer, { port });
    expect(again.port).toBe(port);
    await echoOnce(again);
  });

  it("resolves promptly with no clients and frees the port", async () => {
    const server = await createServer({ port: 0, host: "127.0.0.1" });
    defer(() => server.close());
    const port = server.port;
    const t0 = Date.now();
    await withTimeout(server.close(), 3000, "server.close()");
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(server.listening).toBe(false);
    await expect(openClient(`ws://127.0.0.1:${port}/`, {}, 2000)).rejects.toThrow();
    const again = await startEchoServer(defer, { port });
    expect(again.port).toBe(port);
  });

  it("delivers messages queued before close() ahead of the 1001 close frame", async () => {
    const { server } = await startRecordingServer(defer, {
      message(ws) {
        for (let i = 0; i < 100; i++) ws.send(`late ${i}`);
        void server.close();
      },
    });
    const client = await openTracked(defer, urlOf(server));
    client.send("go");
    const got: string[] = [];
    for (let i = 0; i < 100; i++) got.push((await nextMessage(client)).data.toString());
    expect(got[0]).toBe("late 0");
    expect(got[99]).toBe("late 99");
    expect((await closed(client)).code).toBe(1001);
  });

  it("drops clients that never answer the close after closeTimeout", { timeout: 15_000 }, async () => {
    const closes: number[] = [];
    const server = await startServer(defer, { closeTimeout: 300, close: (_ws, code) => closes.push(code) });
    // A raw TCP client that completed the upgrade but never reads or answers the close frame.
    const raw = await rawConnect(server.port);
    defer(() => raw.destroy());
    raw.socket.pause();
    await waitFor(() => server.connections === 1, 5000, "the connection");
    const t0 = Date.now();
    await withTimeout(server.close(), 5000, "server.close() with a silent client");
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(closes).toHaveLength(1);
  });

  it("refuses new connections once close() is called", async () => {
    const server = await createServer({ port: 0, host: "127.0.0.1" });
    defer(() => server.close());
    const port = server.port;
    await withTimeout(server.close(), 5000, "server.close()");
    await expect(openClient(`ws://127.0.0.1:${port}/`, {}, 2000)).rejects.toThrow();
  });

  it("ref() and unref() return the server and keep it serving", async () => {
    const server = await startEchoServer(defer);
    expect(server.unref()).toBe(server);
    await echoOnce(server, "unref'd");
    expect(server.ref()).toBe(server);
    await echoOnce(server, "ref'd");
  });
});

describe("socket close codes", () => {
  it("server-initiated ws.close(4000, 'bye'): the client sees 4000/'bye' and the close handler fires", async () => {
    const states: number[] = [];
    const { server, closes } = await startRecordingServer(defer, {
      message(ws) {
        ws.close(4000, "bye");
        states.push(ws.readyState);
      },
    });
    const client = await openTracked(defer, urlOf(server));
    client.send("close me");
    expect(await closed(client)).toEqual({ code: 4000, reason: "bye" });
    expect(await onlyClose(closes)).toMatchObject({ code: 4000, reason: "bye" });
    expect(closes[0]!.ws.readyState).toBe(ReadyState.CLOSED);
    expect(states).toEqual([ReadyState.CLOSING]);
  });

  it("ws.close() with no arguments sends 1000 and an empty reason", async () => {
    const { server, closes } = await startRecordingServer(defer, { message: (ws) => ws.close() });
    const client = await openTracked(defer, urlOf(server));
    client.send("x");
    expect(await closed(client)).toEqual({ code: 1000, reason: "" });
    expect((await onlyClose(closes)).code).toBe(1000);
  });

  it("a reason of exactly 123 bytes of multi-byte UTF-8 is sent whole", async () => {
    const reason = "€".repeat(41); // 123 bytes
    const { server } = await startRecordingServer(defer, { message: (ws) => ws.close(3000, reason) });
    const client = await openTracked(defer, urlOf(server));
    client.send("x");
    expect(await closed(client)).toEqual({ code: 3000, reason });
  });

  it("messages sent before ws.close() arrive before the close frame", async () => {
    const statuses: number[] = [];
    const { server } = await startRecordingServer(defer, {
      message(ws) {
        statuses.push(ws.send("one"));
        statuses.push(ws.send(Buffer.from("two")));
        ws.close(1000, "done");
        statuses.push(ws.send("three"));
      },
    });
    const client = await openTracked(defer, urlOf(server));
    client.send("x");
    expect((await nextMessage(client)).data.toString()).toBe("one");
    expect((await nextMessage(client)).data.toString()).toBe("two");
    expect(await closed(client)).toEqual({ code: 1000, reason: "done" });
    expect(statuses).toEqual([SendStatus.SUCCESS, SendStatus.SUCCESS, SendStatus.CLOSED]);
  });

  it("terminate(): the client sees 1006 and the close handler gets 1006", async () => {
    const { server, closes } = await startRecordingServer(defer, { message: (ws) => ws.terminate() });
    const client = await openTracked(defer, urlOf(server));
    client.send("kill me");
    expect((await closed(client)).code).toBe(1006);
    expect(await onlyClose(closes)).toMatchObject({ code: 1006, reason: "" });
  });

  it("a client closing with 3001 'done' reaches the close handler as 3001 and 'done'", async () => {
    const { server, closes } = await startRecordingServer(defer);
    const client = await openTracked(defer, urlOf(server));
    client.close(3001, "done");
    expect((await closed(client)).code).toBe(3001);
    expect(await onlyClose(closes)).toMatchObject({ code: 3001, reason: "done" });
  });

  it("a client closing without a code reaches the close handler as 1005", async () => {
    const { server, closes } = await startRecordingServer(defer);
    const client = await openTracked(defer, urlOf(server));
    client.close();
    await closed(client);
    expect(await onlyClose(closes)).toMatchObject({ code: 1005, reason: "" });
  });

  it("a client that drops the TCP connection reaches the close handler as 1006", async () => {
    const { server, closes } = await startRecordingServer(defer);
    const client = await openTracked(defer, urlOf(server));
    await waitFor(() => server.connections === 1, 5000, "the connection");
    client.terminate();
    expect((await onlyClose(closes)).code).toBe(1006);
  });

  it("fires the close handler exactly once per socket", async () => {
    const { server, closes } = await startRecordingServer(defer, {
      message(ws) {
        ws.close(1000);
        ws.close(1001);
        ws.terminate();
      },
    });
    const client = await openTracked(defer, urlOf(server));
    client.send("x");
    expect([1000, 1006]).toContain((await closed(client)).code); // terminate() may overtake the close
    await waitFor(() => closes.length >= 1, 5000, "the close handler");
    await new Promise((r) => setTimeout(r, 200));
    expect(closes).toHaveLength(1);
  });
});

describe("ws.close() argument validation", () => {
  async function openSocket(): Promise<{ ws: ServerWebSocket; client: Awaited<ReturnType<typeof openTracked>> }> {
    const got = deferred<ServerWebSocket>();
    const server = await startEchoServer(defer, { open: (ws) => got.resolve(ws) });
    const client = await openTracked(defer, urlOf(server));
    const ws = await withTimeout(got.promise, 5000, "the open handler");
    return { ws, client };
  }

  const badCodes = [1005, 999, 1004, 1006, 1015, 1016, 2999, 5000, 0, -1, 1000.5];
  for (const code of badCodes) {
    it(`throws RangeError ERR_OUT_OF_RANGE for code ${code}`, async () => {
      const { ws } = await openSocket();
      const err = thrown(() => ws.close(code));
      expect(err).toBeInstanceOf(RangeError);
      expect(err.code).toBe("ERR_OUT_OF_RANGE");
      expect(ws.readyState).toBe(ReadyState.OPEN);
    });
  }

  it("throws RangeError for a reason of 124 bytes (and for 42 euro signs = 126 bytes)", async () => {
    const { ws } = await openSocket();
    const e1 = thrown(() => ws.close(1000, "x".repeat(124)));
    expect(e1).toBeInstanceOf(RangeError);
    expect(e1.code).toBe("ERR_OUT_OF_RANGE");
    const e2 = thrown(() => ws.close(1000, "€".repeat(42)));
    expect(e2).toBeInstanceOf(RangeError);
    expect(ws.readyState).toBe(ReadyState.OPEN);
  });

  it("throws TypeError for a code or reason of the wrong type", async () => {
    const { ws } = await openSocket();
    const e1 = thrown(() => ws.close("1000" as unknown as number));
    expect(e1).toBeInstanceOf(TypeError);
    expect(e1.code).toBe("ERR_INVALID_ARG_TYPE");
    const e2 = thrown(() => ws.close(1000, 42 as unknown as string));
    expect(e2).toBeInstanceOf(TypeError);
    expect(e2.code).toBe("ERR_INVALID_ARG_TYPE");
  });

  it("a socket whose close() threw is still open and echoing", async () => {
    const { ws, client } = await openSocket();
    thrown(() => ws.close(1005));
    thrown(() => ws.close(1000, "y".repeat(200)));
    client.send("still open");
    expect((await nextMessage(client)).data.toString()).toBe("still open");
    expect(ws.readyState).toBe(ReadyState.OPEN);
  });

  for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]) {
    it(`accepts code ${code} and the client receives it`, async () => {
      const { ws, client } = await openSocket();
      ws.close(code, `c${code}`);
      expect(await closed(client)).toEqual({ code, reason: `c${code}` });
    });
  }
});

describe("use after close", () => {
  it("after the close handler: send() returns CLOSED, close()/terminate() do nothing, readyState is CLOSED", async () => {
    const done = deferred<ServerWebSocket>();
    const server = await startServer(defer, { close: (ws) => done.resolve(ws) });
    const client = await openTracked(defer, urlOf(server));
    client.close(1000);
    const ws = await withTimeout(done.promise, 5000, "the close handler");
    expect(ws.readyState).toBe(ReadyState.CLOSED);
    expect(ws.send("late")).toBe(SendStatus.CLOSED);
    expect(ws.send(Buffer.from("late"))).toBe(SendStatus.CLOSED);
    expect(() => ws.close()).not.toThrow();
    expect(() => ws.close(4000, "again")).not.toThrow();
    expect(() => ws.terminate()).not.toThrow();
    expect(ws.readyState).toBe(ReadyState.CLOSED);
    expect(ws.bufferedAmount).toBe(0);
  });

  it("after ws.close(): send() returns CLOSED at once", async () => {
    const results: number[] = [];
    const server = await startServer(defer, {
      message(ws) {
        ws.close();
        results.push(ws.send("after close"));
      },
    });
    const client = await openTracked(defer, urlOf(server));
    client.send("x");
    await closed(client);
    expect(results).toEqual([SendStatus.CLOSED]);
  });

  it("sockets kept past server.close() are closed and harmless", async () => {
    const { server, sockets } = await startRecordingServer(defer);
    await openTracked(defer, urlOf(server));
    await waitFor(() => sockets.length === 1, 5000, "the open handler");
    await withTimeout(server.close(), 5000, "server.close()");
    const ws = sockets[0]!;
    expect(ws.readyState).toBe(ReadyState.CLOSED);
    expect(ws.send("x")).toBe(SendStatus.CLOSED);
    expect(() => ws.close(1000)).not.toThrow();
    expect(() => ws.terminate()).not.toThrow();
  });

  it("close() on a closed server resolves again and does not throw", async () => {
    const server = await createServer({ port: 0, host: "127.0.0.1" });
    defer(() => server.close());
    await withTimeout(server.close(), 5000, "server.close()");
    await withTimeout(server.close(), 1000, "second server.close()");
    expect(server.listening).toBe(false);
    expect(() => server.ref()).not.toThrow();
    expect(() => server.unref()).not.toThrow();
  });

  it("a server created after every other server closed works (the I/O thread restarts)", async () => {
    const a = await createServer({ port: 0, host: "127.0.0.1" });
    defer(() => a.close());
    await withTimeout(a.close(), 5000, "a.close()");
    const b = await startEchoServer(defer);
    await echoOnce(b);
  });

  it("ClosedError is exported with code ERR_CLOSED", () => {
    const err = new ClosedError("x");
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe("ERR_CLOSED");
  });
});

describe("path option", () => {
  it("accepts the configured path, ignores the query string, and 404s every other path", async () => {
    const server = await startEchoServer(defer, { path: "/chat" });
    const ok = await openTracked(defer, urlOf(server, "/chat"));
    ok.send("a");
    expect((await nextMessage(ok)).data.toString()).toBe("a");
    const withQuery = await openTracked(defer, urlOf(server, "/chat?room=1&user=x"));
    withQuery.send("b");
    expect((await nextMessage(withQuery)).data.toString()).toBe("b");
    expect(await upgradeStatus(urlOf(server, "/other"))).toBe(404);
    expect(await upgradeStatus(urlOf(server, "/"))).toBe(404);
    expect(await upgradeStatus(urlOf(server, "/chatroom"))).toBe(404);
    expect(await upgradeStatus(urlOf(server, "/chat/extra"))).toBe(404);
    expect(await upgradeStatus(urlOf(server, "/other?/chat"))).toBe(404);
    // Rejected upgrades never reach the handlers and leave the server working.
    expect(server.connections).toBe(2);
    const again = await openTracked(defer, urlOf(server, "/chat"));
    again.send("c");
    expect((await nextMessage(again)).data.toString()).toBe("c");
  });

  it("without a path option, any path is accepted", async () => {
    const server = await startEchoServer(defer);
    for (const path of ["/", "/a/b/c", "/x?y=z"]) {
      const c = await openTracked(defer, urlOf(server, path));
      c.send(path);
      expect((await nextMessage(c)).data.toString()).toBe(path);
    }
  });

  it("does not run the open handler for a rejected path", async () => {
    let opens = 0;
    const server = await startServer(defer, { path: "/only", open: () => void opens++ });
    expect(await upgradeStatus(urlOf(server, "/nope"))).toBe(404);
    await new Promise((r) => setTimeout(r, 100));
    expect(opens).toBe(0);
  });
});
