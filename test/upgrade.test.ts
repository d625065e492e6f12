// The upgrade hook: deciding handshakes in JS (sync or async), subprotocols, extra headers,
// initial ws.data, path lists and functions, and the handshake limits (header size, pending
// handshakes, hook timeout), over ws:// and wss://.
import { connect } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { UpgradeRequest } from "../lib/index.js";
import {
  acceptFor,
  closed,
  createServerRejection,
  deferred,
  frame,
  newKey,
  nextMessage,
  OP,
  openClient,
  openTracked,
  parseFrame,
  sleep,
  startEchoServer,
  startServer,
  upgradeRequest,
  upgradeStatus,
  urlOf,
  useCleanup,
  waitFor,
  withTimeout,
} from "./helpers.js";
import { makeSelfSigned } from "./tls-certs.js";

const defer = useCleanup();

interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Bytes after the head that arrived before the server closed (or we gave up). */
  rest: Buffer;
}

/**
 * Sends `request` (a whole HTTP request head, plus anything after it) on a fresh TCP socket
 * and collects the answer: for a refusal, until the server closes; for a 101, until `until`
 * bytes followed the head.
 */
function rawExchange(port: number, request: string | Buffer, until = 0, timeoutMs = 5000): Promise<HttpAnswer> {
  const socket = connect({ host: "127.0.0.1", port });
  defer(() => socket.destroy());
  const answer = new Promise<HttpAnswer>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const finish = (): void => {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) {
        reject(new Error(`connection ended without an HTTP answer (${buf.length} bytes)`));
        return;
      }
      const [statusLine, ...lines] = buf.subarray(0, end).toString("latin1").split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(":");
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "")?.[1] ?? 0);
      const rest = buf.subarray(end + 4);
      resolve({ status, headers, body: rest, rest });
    };
    socket.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf("\r\n\r\n");
      if (end >= 0 && until > 0 && buf.length - end - 4 >= until) finish();
    });
    socket.on("close", finish);
    socket.on("error", () => undefined);
  });
  socket.on("connect", () => socket.write(request));
  return withTimeout(answer, timeoutMs, "the raw HTTP answer");
}

/** Sends `request` and resolves with the response head (the connection may stay open). */
function rawHead(port: number, request: string): Promise<string> {
  const socket = connect({ host: "127.0.0.1", port });
  defer(() => socket.destroy());
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      let text = "";
      socket.on("data", (d: Buffer) => {
        text += d.toString("latin1");
        const end = text.indexOf("\r\n\r\n");
        if (end >= 0) resolve(text.slice(0, end));
      });
      socket.on("close", () => reject(new Error(`closed after ${JSON.stringify(text)}`)));
      socket.on("error", () => undefined);
      socket.on("connect", () => socket.write(request));
    }),
    5000,
    "a response head",
  );
}

/** An upgrade refused: resolves with the status, headers and body the `ws` client saw. */
function refusal(url: string, options: WebSocket.ClientOptions = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const client = new WebSocket(url, options);
  defer(() => client.terminate());
  const result = new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    client.on("unexpected-response", (_req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    client.on("open", () => reject(new Error("the upgrade unexpectedly succeeded")));
    client.on("error", (err) => reject(err));
  });
  return withTimeout(result, 5000, `the refusal of ${url}`);
}

/** Opens a client and also resolves with the 101 response's headers. */
async function openWithHeaders(url: string, protocols: string[] = [], options: WebSocket.ClientOptions = {}): Promise<{ client: WebSocket; headers: Record<string, unknown> }> {
  let headers: Record<string, unknown> = {};
  const client = new WebSocket(url, protocols, options);
  defer(() => client.terminate());
  client.on("upgrade", (res) => (headers = res.headers));
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      client.once("open", () => resolve());
      client.once("error", reject);
      client.once("unexpected-response", (_req, res) => reject(new Error(`unexpected ${res.statusCode}`)));
    }),
    5000,
    "open",
  );
  return { client, headers };
}

/** Collects process warnings emitted while the test runs. */
function captureWarnings(): Error[] {
  const seen: Error[] = [];
  const onWarning = (w: Error): void => void seen.push(w);
  process.on("warning", onWarning);
  defer(() => process.off("warning", onWarning));
  return seen;
}

describe("upgrade hook: deciding", () => {
  it("sees method, url, path, headers, remote address and offered subprotocols", async () => {
    let seen: UpgradeRequest | undefined;
    const server = await startEchoServer(defer, {
      upgrade(req) {
        seen = req;
      },
    });
    await openWithHeaders(urlOf(server, "/room/7?user=ann&x=1"), ["chat.v2", "chat.v1"], {
      headers: { Origin: "https://app.example", "X-Custom-Thing": "abc" },
    });
    expect(seen).toBeDefined();
    expect(seen!.method).toBe("GET");
    expect(seen!.url).toBe("/room/7?user=ann&x=1");
    expect(seen!.path).toBe("/room/7");
    expect(seen!.remoteAddress).toBe("127.0.0.1");
    expect(seen!.headers.origin).toBe("https://app.example");
    expect(seen!.headers["x-custom-thing"]).toBe("abc");
    expect(seen!.headers.host).toBe(`127.0.0.1:${server.port}`);
    expect(seen!.headers["sec-websocket-version"]).toBe("13");
    expect(seen!.protocols).toEqual(["chat.v2", "chat.v1"]);
  });

  it("refuses with the status, body and headers it returns, and never opens a socket", async () => {
    let opens = 0;
    const server = await startServer(defer, {
      upgrade: () => ({ status: 401, body: "who are you?", headers: { "WWW-Authenticate": 'Basic realm="x"' } }),
      open: () => void opens++,
    });
    const r = await refusal(urlOf(server));
    expect(r.status).toBe(401);
    expect(r.body).toBe("who are you?");
    expect(r.headers["www-authenticate"]).toBe('Basic realm="x"');
    expect(r.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(r.headers.connection).toBe("close");
    expect(opens).toBe(0);
    expect(server.stats().rejected).toBe(1);
    expect(server.connections).toBe(0);
  });

  it("false refuses with 403; binary bodies are sent as they are", async () => {
    const server = await startServer(defer, {
      upgrade: (req) => (req.path === "/bin" ? { status: 418, body: new Uint8Array([0, 1, 2, 255]) } : false),
    });
    expect(await upgradeStatus(urlOf(server))).toBe(403);
    const answer = await rawExchange(server.port, upgradeRequest(server.port, { path: "/bin" }));
    expect(answer.status).toBe(418);
    expect([...answer.body]).toEqual([0, 1, 2, 255]);
  });

  it("checks the origin: a foreign origin is refused, the expected one accepted", async () => {
    const server = await startEchoServer(defer, {
      upgrade: (req) => (req.headers.origin === "https://good.example" ? undefined : { status: 403, body: "bad origin" }),
    });
    const bad = await refusal(urlOf(server), { origin: "https://evil.example" });
    expect(bad).toMatchObject({ status: 403, body: "bad origin" });
    const good = await openTracked(defer, urlOf(server), { origin: "https://good.example" });
    good.send("hi");
    expect((await nextMessage(good)).data.toString()).toBe("hi");
  });

  it("waits for an async decision; the data it returns is ws.data in open", async () => {
    const gate = deferred();
    let dataInOpen: unknown;
    const server = await startServer<{ user: string }>(defer, {
      async upgrade(req) {
        await gate.promise;
        return { data: { user: new URLSearchParams(req.url.split("?")[1]).get("user") ?? "" } };
      },
      open(ws) {
        dataInOpen = ws.data;
        ws.send(`hello ${ws.data.user}`);
      },
    });
    const opening = openClient(urlOf(server, "/?user=ann"));
    await sleep(150);
    expect(dataInOpen).toBeUndefined(); // still waiting for the hook
    gate.resolve();
    const client = await opening;
    defer(() => client.terminate());
    expect((await nextMessage(client)).data.toString()).toBe("hello ann");
    expect(dataInOpen).toEqual({ user: "ann" });
  });

  it("keeps what the client sent right behind its request while the hook decides", async () => {
    const server = await startEchoServer(defer, {
      upgrade: () => sleep(100),
    });
    const hello = frame({ opcode: OP.TEXT, payload: Buffer.from("early bird") });
    const answer = await rawExchange(server.port, Buffer.concat([Buffer.from(upgradeRequest(server.port)), hello]), 12);
    expect(answer.status).toBe(101);
    const echoed = parseFrame(answer.rest);
    expect(echoed?.frame.payload.toString()).toBe("early bird");
  });
});

describe("upgrade hook: subprotocols and response headers", () => {
  it("answers with the subprotocol it picks, one libwebsockets knows nothing about; ws.protocol says which", async () => {
    const chosen: string[] = [];
    const server = await startEchoServer(defer, {
      upgrade: (req) => ({ protocol: req.protocols.includes("chat.v2") ? "chat.v2" : "" }),
      open: (ws) => void chosen.push(ws.protocol),
    });
    const { client, headers } = await openWithHeaders(urlOf(server), ["chat.v1", "chat.v2"]);
    expect(client.protocol).toBe("chat.v2");
    expect(headers["sec-websocket-protocol"]).toBe("chat.v2");
    await waitFor(() => chosen.length === 1, 5000, "the open handler"); // the 101 may beat it
    expect(chosen).toEqual(["chat.v2"]);
    client.send("x");
    expect((await nextMessage(client)).data.toString()).toBe("x");
  });

  it("without a choice, the first offered subprotocol; with \"\", none", async () => {
    const first = await startEchoServer(defer, { upgrade: () => undefined });
    const a = await openWithHeaders(urlOf(first), ["mqtt", "graphql-ws"]);
    expect(a.client.protocol).toBe("mqtt");
    const none = await startEchoServer(defer, { upgrade: () => ({ protocol: "" }) });
    const head = await rawHead(none.port, upgradeRequest(none.port, { headers: { "Sec-WebSocket-Protocol": "mqtt" } }));
    expect(head).toMatch(/^HTTP\/1\.1 101/);
    expect(head.toLowerCase()).not.toContain("sec-websocket-protocol");
  });

  it("without a hook, a client offering subprotocols gets the first one (libwebsockets alone refuses them)", async () => {
    const chosen: string[] = [];
    const server = await startEchoServer(defer, { open: (ws) => void chosen.push(ws.protocol) });
    const { client, headers } = await openWithHeaders(urlOf(server), ["graphql-ws", "chat"]);
    expect(client.protocol).toBe("graphql-ws");
    expect(headers["sec-websocket-protocol"]).toBe("graphql-ws");
    const plain = await openWithHeaders(urlOf(server));
    expect(plain.client.protocol).toBe("");
    await waitFor(() => chosen.length === 2, 5000, "two opens");
    expect(chosen).toEqual(["graphql-ws", ""]);
    // A frame sent right behind the request is kept while the handshake is parked.
    const hello = frame({ opcode: OP.TEXT, payload: Buffer.from("right behind") });
    const answer = await rawExchange(
      server.port,
      Buffer.concat([Buffer.from(upgradeRequest(server.port, { headers: { "Sec-WebSocket-Protocol": "a, b" } })), hello]),
      14,
    );
    expect(answer.status).toBe(101);
    expect(answer.headers["sec-websocket-protocol"]).toBe("a");
    expect(parseFrame(answer.rest)?.frame.payload.toString()).toBe("right behind");
  });

  it("adds its headers to the 101 response", async () => {
    const server = await startEchoServer(defer, {
      upgrade: () => ({ headers: { "X-Session": "abc123", "Set-Cookie": "sid=1; HttpOnly" } }),
    });
    const { headers } = await openWithHeaders(urlOf(server));
    expect(headers["x-session"]).toBe("abc123");
    expect(headers["set-cookie"]).toEqual(["sid=1; HttpOnly"]);
  });

  it("a subprotocol the client did not offer, or a reserved header, is a hook error: 500", async () => {
    const warnings = captureWarnings();
    const server = await startServer(defer, {
      upgrade: (req) => (req.path === "/proto" ? { protocol: "nope" } : { headers: { "Sec-WebSocket-Accept": "x" } }),
    });
    expect(await upgradeStatus(urlOf(server, "/proto"))).toBe(500);
    expect(await upgradeStatus(urlOf(server, "/hdr"))).toBe(500);
    await waitFor(() => warnings.length >= 2, 2000, "two warnings");
    expect(warnings.map((w) => w.message).join("\n")).toMatch(/was not offered[\s\S]*set by lwsnode/);
  });
});

describe("upgrade hook: failures and timeouts", () => {
  it("a throwing or rejecting hook answers 500; the process and the server go on", async () => {
    const warnings = captureWarnings();
    const server = await startEchoServer(defer, {
      upgrade(req) {
        if (req.path === "/throw") throw new Error("sync boom");
        if (req.path === "/reject") return Promise.reject(new Error("async boom"));
        if (req.path === "/bad") return { status: 200 };
        return undefined;
      },
    });
    expect(await upgradeStatus(urlOf(server, "/throw"))).toBe(500);
    expect(await upgradeStatus(urlOf(server, "/reject"))).toBe(500);
    expect(await upgradeStatus(urlOf(server, "/bad"))).toBe(500);
    await waitFor(() => warnings.length >= 3, 2000, "three warnings");
    expect(warnings.map((w) => w.message)).toEqual(expect.arrayContaining(["sync boom", "async boom"]));
    const ok = await openTracked(defer, urlOf(server, "/fine"));
    ok.send("still here");
    expect((await nextMessage(ok)).data.toString()).toBe("still here");
  });

  it("a hook slower than upgradeTimeout gets 503; its late answer is ignored", async () => {
    const late = deferred<{ data: string }>();
    let opens = 0;
    const server = await startServer<string>(defer, {
      upgradeTimeout: 200,
      upgrade: (req) => (req.path === "/slow" ? late.promise : undefined),
      open: () => void opens++,
    });
    const started = Date.now();
    expect(await upgradeStatus(urlOf(server, "/slow"))).toBe(503);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    late.resolve({ data: "too late" });
    await sleep(100);
    expect(opens).toBe(0);
    expect(server.connections).toBe(0);
    const quick = await openTracked(defer, urlOf(server, "/quick"));
    expect(quick.readyState).toBe(WebSocket.OPEN);
    await waitFor(() => opens === 1, 2000, "the open handler"); // the client may see its 101 first
  });

  it("a client that leaves while the hook decides does not open a socket", async () => {
    const gate = deferred<undefined>();
    const asked = deferred();
    let opens = 0;
    const server = await startServer(defer, {
      upgrade: () => {
        asked.resolve();
        return gate.promise;
      },
      open: () => void opens++,
    });
    const socket = connect({ host: "127.0.0.1", port: server.port });
    socket.on("error", () => undefined);
    socket.on("connect", () => socket.write(upgradeRequest(server.port)));
    await withTimeout(asked.promise, 5000, "the hook");
    socket.destroy();
    await sleep(50);
    gate.resolve(undefined);
    await sleep(200);
    expect(opens).toBe(0);
    expect(server.connections).toBe(0);
  });

  it("server.close() answers handshakes still waiting for the hook with 503", async () => {
    const asked = deferred();
    const server = await startServer(defer, {
      upgrade: () => {
        asked.resolve();
        return new Promise<undefined>(() => undefined);
      },
    });
    const status = upgradeStatus(urlOf(server));
    await withTimeout(asked.promise, 5000, "the hook");
    await withTimeout(server.close(), 5000, "close()");
    expect(await status).toBe(503);
  });
});

describe("path: lists, functions, 404", () => {
  it("a list of paths: each is accepted, others get 404 without asking the hook", async () => {
    const asked: string[] = [];
    const server = await startEchoServer(defer, {
      path: ["/a", "/b"],
      upgrade: (req) => void asked.push(req.path),
    });
    await openTracked(defer, urlOf(server, "/a"));
    await openTracked(defer, urlOf(server, "/b?q=1"));
    expect(await upgradeStatus(urlOf(server, "/c"))).toBe(404);
    expect(asked).toEqual(["/a", "/b"]);
  });

  it("a function decides the path, with or without an upgrade handler", async () => {
    const alone = await startEchoServer(defer, { path: (p) => p.startsWith("/room/") });
    await openTracked(defer, urlOf(alone, "/room/1"));
    expect(await upgradeStatus(urlOf(alone, "/lobby"))).toBe(404);

    const withHook = await startServer<string>(defer, {
      path: (p) => p !== "/private",
      upgrade: (req) => ({ data: req.path }),
      open: (ws) => ws.send(ws.data),
    });
    const c = await openTracked(defer, urlOf(withHook, "/public"));
    expect((await nextMessage(c)).data.toString()).toBe("/public");
    expect(await upgradeStatus(urlOf(withHook, "/private"))).toBe(404);
  });

  it("rejects invalid path options", async () => {
    for (const [path, name] of [
      [[], "TypeError"],
      [["/ok", 5], "TypeError"],
      [["/ok", "nope"], "RangeError"],
    ] as const) {
      const err = await createServerRejection(defer, { path: path as never });
      expect(err.name).toBe(name);
    }
  });
});

describe("handshake limits", () => {
  it("headers over maxHeaderSize get 431, with and without a hook", async () => {
    const big = { headers: { "X-Big": "b".repeat(2000) } };
    const plain = await startEchoServer(defer, { maxHeaderSize: 1024 });
    expect((await rawExchange(plain.port, upgradeRequest(plain.port, big))).status).toBe(431);
    let asked = 0;
    const hooked = await startEchoServer(defer, { maxHeaderSize: 1024, upgrade: () => void asked++ });
    expect((await rawExchange(hooked.port, upgradeRequest(hooked.port, big))).status).toBe(431);
    expect(asked).toBe(0);
    // Within the default (8 KiB), the same request is fine.
    const roomy = await startEchoServer(defer, { upgrade: () => undefined });
    await openTracked(defer, urlOf(roomy), { headers: { "X-Big": "b".repeat(4000) } });
  });

  it("at most maxPendingUpgrades wait for the hook; the next is answered 503 at once", async () => {
    const gate = deferred<undefined>();
    let asked = 0;
    const server = await startEchoServer(defer, {
      maxPendingUpgrades: 2,
      upgrade: () => {
        asked++;
        return gate.promise;
      },
    });
    const first = openClient(urlOf(server));
    const second = openClient(urlOf(server));
    await waitFor(() => asked === 2, 5000, "two pending handshakes");
    expect(await upgradeStatus(urlOf(server))).toBe(503);
    gate.resolve(undefined);
    const clients = await Promise.all([first, second]);
    for (const c of clients) defer(() => c.terminate());
    await waitFor(() => server.connections === 2, 2000, "two open handlers");
    expect(asked).toBe(2);
  });

  it("validates the limit options", async () => {
    for (const options of [{ upgradeTimeout: 0 }, { maxPendingUpgrades: 0 }, { maxPendingUpgrades: 10_000 }, { maxHeaderSize: 100_000 }]) {
      const err = await createServerRejection(defer, options);
      expect(err.name).toBe("RangeError");
      expect(err.code).toBe("ERR_OUT_OF_RANGE");
    }
    const err = await createServerRejection(defer, { upgrade: "yes" as never });
    expect(err.code).toBe("ERR_INVALID_ARG_TYPE");
  });
});

describe("upgrade hook over wss://", () => {
  let cert: string;
  let key: string;
  beforeAll(() => void ({ cert, key } = makeSelfSigned()));

  it("refuses and accepts (async, with subprotocol, headers and data) over TLS", async () => {
    const server = await startServer<string>(defer, {
      tls: { cert, key },
      async upgrade(req) {
        await sleep(50);
        if (req.path === "/deny") return { status: 401, body: "tls says no" };
        return { protocol: "v1.tls", headers: { "X-Over": "tls" }, data: "secret" };
      },
      open: (ws) => ws.send(ws.data),
    });
    const url = (p: string): string => `wss://localhost:${server.port}${p}`;
    const denied = await refusal(url("/deny"), { ca: cert });
    expect(denied).toMatchObject({ status: 401, body: "tls says no" });
    const { client, headers } = await openWithHeaders(url("/"), ["v0", "v1.tls"], { ca: cert });
    expect(client.protocol).toBe("v1.tls");
    expect(headers["x-over"]).toBe("tls");
    expect((await nextMessage(client)).data.toString()).toBe("secret");
    client.close(1000);
    expect((await closed(client)).code).toBe(1000);
  });
});

describe("sec-websocket-accept", () => {
  it("a resumed handshake carries the right accept value", async () => {
    const server = await startEchoServer(defer, { upgrade: () => sleep(20) });
    const key = newKey();
    const got = await rawHead(server.port, upgradeRequest(server.port, { key }));
    const expected = acceptFor(key);
    expect(got).toMatch(/^HTTP\/1\.1 101/);
    expect(got).toContain(`Sec-WebSocket-Accept: ${expected}`);
  });
});
