// The client: connect() and ClientWebSocket against our own server and two independent ones
// (the npm `ws` server and Python's websockets), every connect failure, close and stop.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer as createHttpServer, type IncomingMessage } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket as WsSocket } from "ws";
import { ClientWebSocket, connect, ConnectError, SendStatus } from "../lib/index.js";
import {
  acceptFor,
  deferred,
  expectExitedBySelf,
  line,
  msFromLineToExit,
  needs,
  parseFrame,
  requireDist,
  runChild,
  sha256,
  startEchoServer,
  startSilentTcpServer,
  startServer,
  startWsServer as startWsServerFor,
  urlOf,
  useCleanup,
  withTimeout,
  type ChildResult,
  type ParsedFrame,
} from "./helpers.js";

const defer = useCleanup();

/** Connects and registers a terminate() with the cleanup. */
async function open(url: string, options: Parameters<typeof connect>[1] = {}): Promise<ClientWebSocket> {
  const ws = await withTimeout(connect(url, options), 5000, `connect(${url})`);
  defer(() => ws.terminate());
  return ws;
}

/** Records every message and the close of `ws` from now on. */
function track(ws: ClientWebSocket) {
  const messages: { data: Buffer; isBinary: boolean }[] = [];
  const waiters: (() => void)[] = [];
  const close = deferred<{ code: number; reason: string }>();
  ws.on("message", (data, isBinary) => {
    messages.push({ data, isBinary });
    for (const w of waiters.splice(0)) w();
  });
  ws.on("close", (code, reason) => close.resolve({ code, reason }));
  return {
    messages,
    closed: () => withTimeout(close.promise, 8000, "close event"),
    async next(): Promise<{ data: Buffer; isBinary: boolean }> {
      const seen = messages.length;
      await withTimeout(
        new Promise<void>((resolve) => {
          const check = (): void => (messages.length > seen ? resolve() : void waiters.push(check));
          check();
        }),
        8000,
        "next message",
      );
      return messages[seen]!;
    },
    async count(n: number): Promise<void> {
      await withTimeout(
        new Promise<void>((resolve) => {
          const check = (): void => (messages.length >= n ? resolve() : void waiters.push(check));
          check();
        }),
        15_000,
        `${n} messages`,
      );
    },
  };
}

async function rejection(promise: Promise<unknown>): Promise<ConnectError> {
  const err = await withTimeout(promise.then(() => undefined, (e: unknown) => e), 8000, "connect() to fail");
  expect(err, "connect() should have rejected").toBeInstanceOf(ConnectError);
  return err as ConnectError;
}

// ---- independent servers -------------------------------------------------------------------

function startWsServer(options: ConstructorParameters<typeof WebSocketServer>[0] = {}): Promise<{ wss: WebSocketServer; port: number }> {
  return startWsServerFor(defer, options);
}

async function startWsEcho(): Promise<number> {
  const { wss, port } = await startWsServer({ maxPayload: 64 * 1024 * 1024 });
  wss.on("connection", (ws) => ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary })));
  return port;
}

let python: ChildProcess | undefined;
let pythonPort: Promise<number> | undefined;
let pythonLog = "";
const PY_SERVER = fileURLToPath(new URL("./fixtures/py_ws_server.py", import.meta.url));
// Only the tests that talk to Python's websockets need python3-websockets.
const PYTHON = needs("python3-websockets", "the client tests against Python's websockets");

// The Python websockets server, started by the first test that needs it; its port.
function pythonServer(): Promise<number> {
  // Debian's python3 (with python3-websockets), not whichever python3 comes first on PATH.
  // Its stderr (tracebacks for connections our tests drop on purpose) is kept for failures only.
  pythonPort ??= withTimeout(
    new Promise<number>((resolve, reject) => {
      python = spawn("/usr/bin/python3", [PY_SERVER], { stdio: ["ignore", "pipe", "pipe"] });
      python.stderr!.on("data", (chunk: Buffer) => {
        pythonLog += chunk.toString();
      });
      createInterface({ input: python.stdout! }).on("line", (l) => {
        const m = /^PORT (\d+)$/.exec(l);
        if (m) resolve(Number(m[1]));
      });
      python.on("exit", (code) => reject(new Error(`the Python websockets server exited (${code})\n${pythonLog}`)));
    }),
    10_000,
    "the Python websockets server",
  );
  return pythonPort;
}

beforeAll(() => {
  requireDist();
});

afterAll(() => {
  python?.kill();
});

// ---- echo everywhere ---------------------------------------------------------------------------

const SERVERS: { name: string; url(): Promise<string> }[] = [
  { name: "lwsnode", url: async () => urlOf(await startEchoServer(defer, { maxPayloadLength: 64 * 1024 * 1024 }), "/echo") },
  { name: "ws (npm)", url: async () => `ws://127.0.0.1:${await startWsEcho()}/echo` },
  ...(PYTHON ? [{ name: "Python websockets", url: async () => `ws://127.0.0.1:${await pythonServer()}/echo` }] : []),
];

describe.each(SERVERS)("client echo against the $name server", ({ url }) => {
  it("sends text and binary messages and gets them back with their type", async () => {
    const ws = await open(await url());
    const t = track(ws);
    expect(ws.readyState).toBe(1);
    expect(ws.send("héllo wörld")).toBe(SendStatus.SUCCESS);
    ws.send(Buffer.from([0, 1, 2, 255]));
    ws.send(new Uint8Array([9, 8, 7]).buffer);
    ws.send("");
    await t.count(4);
    expect(t.messages.map((m) => [m.isBinary, m.isBinary ? [...m.data] : m.data.toString()])).toEqual([
      [false, "héllo wörld"],
      [true, [0, 1, 2, 255]],
      [true, [9, 8, 7]],
      [false, ""],
    ]);
  });

  it("echoes large messages intact (5 MiB: masked and sent as 256 KiB fragments)", { timeout: 30_000 }, async () => {
    const ws = await open(await url());
    const t = track(ws);
    const big = randomBytes(5 * 1024 * 1024);
    const text = "x".repeat(300 * 1024) + "é";
    ws.send(big);
    ws.send(text);
    await t.count(2);
    expect(sha256(t.messages[0]!.data)).toBe(sha256(big));
    expect(t.messages[1]!.data.toString()).toBe(text);
  });

  it("keeps 2,000 small messages in order", { timeout: 30_000 }, async () => {
    const ws = await open(await url());
    const t = track(ws);
    for (let i = 0; i < 2000; i++) ws.send(`m${i}`);
    await t.count(2000);
    expect(t.messages.every((m, i) => m.data.toString() === `m${i}`)).toBe(true);
  });

  it("closes with a code and reason the server echoes back", async () => {
    const ws = await open(await url());
    const t = track(ws);
    ws.close(4000, "client done");
    expect(ws.readyState).toBe(2);
    expect(await t.closed()).toEqual({ code: 4000, reason: "client done" });
    expect(ws.readyState).toBe(3);
    expect(ws.send("late")).toBe(SendStatus.CLOSED);
  });
});

// ---- what independent servers see ---------------------------------------------------------------

describe("handshake", () => {
  it("sends custom headers and the origin; the server sees them", async () => {
    const { wss, port } = await startWsServer();
    const seen = deferred<IncomingMessage>();
    wss.on("connection", (_ws, req) => seen.resolve(req));
    await open(`ws://127.0.0.1:${port}/path?q=1`, { headers: { "X-Token": "abc 123", "x-other": "2" }, origin: "https://example.test" });
    const req = await withTimeout(seen.promise, 5000, "connection");
    expect(req.headers["x-token"]).toBe("abc 123");
    expect(req.headers["x-other"]).toBe("2");
    expect(req.headers.origin).toBe("https://example.test");
    expect(req.url).toBe("/path?q=1");
    expect(req.headers.host).toBe(`127.0.0.1:${port}`);
  });

  it.runIf(PYTHON)("Python websockets sees the headers too", async () => {
    const ws = await open(`ws://127.0.0.1:${await pythonServer()}/headers`, { headers: { "X-Token": "py" } });
    const headers = JSON.parse((await track(ws).next()).data.toString()) as Record<string, string>;
    expect(headers["x-token"]).toBe("py");
  });

  it("negotiates a subprotocol with the ws server (the server's choice among those offered)", async () => {
    const { port } = await startWsServer({ handleProtocols: (offered) => (offered.has("v2") ? "v2" : false) });
    const ws = await open(`ws://127.0.0.1:${port}/`, { protocols: ["v1", "v2"] });
    expect(ws.protocol).toBe("v2");
  });

  it.runIf(PYTHON)("negotiates a subprotocol with Python websockets (the one both know); none offered gives none", async () => {
    const ws = await open(`ws://127.0.0.1:${await pythonServer()}/protocol`, { protocols: ["unknown", "superchat"] });
    expect(ws.protocol).toBe("superchat");
    expect((await track(ws).next()).data.toString()).toBe("superchat");
    const plain = await open(`ws://127.0.0.1:${await pythonServer()}/protocol`);
    expect(plain.protocol).toBe("");
  });

  it("refuses invalid options and URLs with typed errors before connecting", async () => {
    await expect(connect("http://[bad")).rejects.toMatchObject({ code: "ERR_INVALID_URL" });
    await expect(connect("ftp://127.0.0.1/")).rejects.toMatchObject({ code: "ERR_INVALID_URL" });
    await expect(connect("ws://127.0.0.1/#frag")).rejects.toMatchObject({ code: "ERR_INVALID_URL" });
    await expect(connect("ws://127.0.0.1/", { headers: { "X-A": "1\r\nEvil: yes" } })).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
    await expect(connect("ws://127.0.0.1/", { headers: { Upgrade: "h2c" } })).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
    await expect(connect("ws://127.0.0.1/", { protocols: ["a", "a"] })).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
    await expect(connect("ws://127.0.0.1/", { protocols: ["has space"] })).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
    await expect(connect("ws://127.0.0.1/", { handshakeTimeout: 0 })).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
    await expect(connect("ws://127.0.0.1/", { tls: { ca: "not a certificate" } })).rejects.toMatchObject({ code: "ERR_TLS_CERT" });
    await expect(connect("ws://127.0.0.1/", { bogus: 1 } as never)).rejects.toMatchObject({ code: "ERR_INVALID_ARG_TYPE" });
  });
});

// ---- masking --------------------------------------------------------------------------------------

describe("masking", () => {
  it("masks every frame with a fresh key (checked on the wire by a raw server)", async () => {
    const http = createHttpServer();
    const frames: (ParsedFrame & { masked: boolean; key: string })[] = [];
    const got = deferred();
    http.on("upgrade", (req: IncomingMessage, socket: Socket) => {
      defer(() => socket.destroy());
      const accept = acceptFor(String(req.headers["sec-websocket-key"]));
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      let buf = Buffer.alloc(0);
      socket.on("data", (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        for (let parsed = parseFrame(buf); parsed; parsed = parseFrame(buf)) {
          const raw = buf.subarray(0, parsed.length);
          const headerLen = (raw[1]! & 0x7f) === 126 ? 4 : (raw[1]! & 0x7f) === 127 ? 10 : 2;
          frames.push({ ...parsed.frame, masked: (raw[1]! & 0x80) !== 0, key: raw.subarray(headerLen, headerLen + 4).toString("hex") });
          buf = buf.subarray(parsed.length);
          if (frames.length === 4) got.resolve();
        }
      });
    });
    http.listen(0, "127.0.0.1");
    await once(http, "listening");
    defer(() => new Promise<void>((resolve) => http.close(() => resolve())));
    const ws = await open(`ws://127.0.0.1:${(http.address() as { port: number }).port}/`);
    ws.send("same");
    ws.send("same");
    ws.send(Buffer.alloc(70_000, 7));
    ws.ping("p");
    await withTimeout(got.promise, 5000, "4 frames");
    expect(frames.every((f) => f.masked)).toBe(true);
    expect(frames.map((f) => f.payload.length)).toEqual([4, 4, 70_000, 1]);
    expect(frames[0]!.payload.toString()).toBe("same");
    expect(frames[1]!.payload.toString()).toBe("same");
    expect(frames[2]!.payload.equals(Buffer.alloc(70_000, 7))).toBe(true);
    expect(frames[3]!.opcode).toBe(0x9);
    expect(new Set(frames.map((f) => f.key)).size).toBe(4);
  });
});

// ---- connect failures -----------------------------------------------------------------------------

describe("connect failures reject with a ConnectError that says why", () => {
  it("dns: a name that does not resolve", async () => {
    const err = await rejection(connect("ws://no-such-host.invalid/"));
    expect(err.reason).toBe("dns");
    expect(err.code).toBe("ENOTFOUND");
    expect(err.url).toBe("ws://no-such-host.invalid/");
  });

  it("refused: nothing listens on the port", async () => {
    const net = createNetServer();
    net.listen(0, "127.0.0.1");
    await once(net, "listening");
    const port = (net.address() as { port: number }).port;
    await new Promise<void>((resolve) => net.close(() => resolve()));
    const err = await rejection(connect(`ws://127.0.0.1:${port}/`));
    expect(err.reason).toBe("refused");
    expect(err.code).toBe("ECONNREFUSED");
  });

  it("status: the server answers 404 (our server's path filter) or 403 (ws verifyClient)", async () => {
    const server = await startEchoServer(defer, { path: "/only" });
    const err = await rejection(connect(urlOf(server, "/other")));
    expect(err.reason).toBe("status");
    expect(err.code).toBe("EHTTPSTATUS");
    expect(err.status).toBe(404);
    const { port } = await startWsServer({ verifyClient: (_info, cb) => cb(false, 403) });
    const err403 = await rejection(connect(`ws://127.0.0.1:${port}/`));
    expect(err403.status).toBe(403);
    expect(err403.message).toContain("403");
  });

  it("timeout: a server that accepts but never answers the upgrade", async () => {
    const { port, sockets } = await startSilentTcpServer(defer);
    const started = Date.now();
    const err = await rejection(connect(`ws://127.0.0.1:${port}/`, { handshakeTimeout: 300 }));
    expect(err.reason).toBe("timeout");
    expect(err.code).toBe("ETIMEDOUT");
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it("network: the server drops the connection during the handshake", async () => {
    const net: NetServer = createNetServer((s) => s.destroy());
    net.listen(0, "127.0.0.1");
    await once(net, "listening");
    defer(() => net.close());
    const err = await rejection(connect(`ws://127.0.0.1:${(net.address() as { port: number }).port}/`));
    expect(err.reason).toBe("network");
  });

  it("handshake: the server picks a subprotocol that was not offered", async () => {
    const http = createHttpServer();
    http.on("upgrade", (req: IncomingMessage, socket: Socket) => {
      const accept = acceptFor(String(req.headers["sec-websocket-key"]));
      socket.end(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: other\r\n\r\n`,
      );
    });
    http.listen(0, "127.0.0.1");
    await once(http, "listening");
    defer(() => new Promise<void>((resolve) => http.close(() => resolve())));
    const err = await rejection(connect(`ws://127.0.0.1:${(http.address() as { port: number }).port}/`, { protocols: ["mine"] }));
    expect(err.reason).toBe("handshake");
    expect(err.code).toBe("EHANDSHAKE");
  });

  it("aborted: close() while connecting", async () => {
    const { port, sockets } = await startSilentTcpServer(defer);
    // A WebSocket lets us call close() while connect() is pending (see websocket.test.ts for
    // the events); here the ClientWebSocket underneath must give up at once.
    const { WebSocket } = await import("../lib/index.js");
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    const error = deferred<Event>();
    ws.onerror = (e) => error.resolve(e);
    await withTimeout(
      new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (sockets.length > 0) {
            clearInterval(timer);
            resolve();
          }
        }, 5);
      }),
      5000,
      "the TCP connection",
    );
    ws.close();
    const event = (await withTimeout(error.promise, 3000, "error event")) as Event & { error: ConnectError };
    expect(event.error.reason).toBe("aborted");
  });
});

// ---- server-side behaviour ----------------------------------------------------------------------

describe("what servers do to the client", () => {
  it("reports the close code and reason our server closes with", async () => {
    const server = await startServer(defer, { open: (ws) => ws.close(4001, "server says bye") });
    const ws = await open(urlOf(server));
    expect(await track(ws).closed()).toEqual({ code: 4001, reason: "server says bye" });
  });

  it("reports 1001 when our server shuts down, and the server's close() waits for it", async () => {
    const server = await startEchoServer(defer);
    const ws = await open(urlOf(server));
    const t = track(ws);
    await server.close();
    expect(await t.closed()).toEqual({ code: 1001, reason: "server closing" });
  });

  it.runIf(PYTHON)("reports Python's close code", async () => {
    const ws = await open(`ws://127.0.0.1:${await pythonServer()}/close/4002`);
    expect(await track(ws).closed()).toEqual({ code: 4002, reason: "py-bye" });
  });

  it("reports the ws server's terminate() as 1006", async () => {
    const { wss, port } = await startWsServer();
    wss.on("connection", (s) => setTimeout(() => s.terminate(), 20));
    const dropped = await open(`ws://127.0.0.1:${port}/`);
    expect((await track(dropped).closed()).code).toBe(1006);
  });

  it("answers the ws server's pings", async () => {
    const { wss, port } = await startWsServer();
    const pong = deferred<Buffer>();
    wss.on("connection", (s: WsSocket) => {
      s.on("pong", (data) => pong.resolve(data));
      s.ping("are you there");
    });
    await open(`ws://127.0.0.1:${port}/`);
    expect((await withTimeout(pong.promise, 5000, "pong")).toString()).toBe("are you there");
  });

  it.runIf(PYTHON)("answers Python's pings", async () => {
    const py = await open(`ws://127.0.0.1:${await pythonServer()}/ping`);
    expect((await track(py).next()).data.toString()).toBe("pong received");
  });

  it("reassembles fragmented messages from the ws server", async () => {
    const { wss, port } = await startWsServer();
    wss.on("connection", (s: WsSocket) => {
      s.send("frag", { fin: false });
      s.send("men", { fin: false });
      s.send("ted", { fin: true });
      s.send(Buffer.from([1]), { fin: false, binary: true });
      s.send(Buffer.from([2]), { fin: true, binary: true });
    });
    const ws = await open(`ws://127.0.0.1:${port}/`);
    const t = track(ws);
    await t.count(2);
    expect(t.messages[0]!.data.toString()).toBe("fragmented");
    expect(t.messages[0]!.isBinary).toBe(false);
    expect([...t.messages[1]!.data]).toEqual([1, 2]);
    expect(t.messages[1]!.isBinary).toBe(true);
  });

  it("closes with 1009 when a message exceeds maxPayloadLength", async () => {
    const { wss, port } = await startWsServer();
    const serverSaw = deferred<number>();
    wss.on("connection", (s: WsSocket) => {
      s.on("close", (code) => serverSaw.resolve(code));
      s.send(Buffer.alloc(2000));
    });
    const ws = await open(`ws://127.0.0.1:${port}/`, { maxPayloadLength: 1000 });
    expect((await track(ws).closed()).code).toBe(1009);
    expect(await withTimeout(serverSaw.promise, 5000, "server close")).toBe(1009);
  });

  it("close() drops a server that never answers the closing handshake after closeTimeout", async () => {
    const http = createHttpServer();
    http.on("upgrade", (req: IncomingMessage, socket: Socket) => {
      const accept = acceptFor(String(req.headers["sec-websocket-key"]));
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      socket.on("data", () => {}); // reads, never answers
      defer(() => socket.destroy());
    });
    http.listen(0, "127.0.0.1");
    await once(http, "listening");
    defer(() => new Promise<void>((resolve) => http.close(() => resolve())));
    const ws = await open(`ws://127.0.0.1:${(http.address() as { port: number }).port}/`, { closeTimeout: 300 });
    const t = track(ws);
    const started = Date.now();
    ws.close(1000, "bye");
    expect(await t.closed()).toEqual({ code: 1000, reason: "bye" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });
});

// ---- backpressure -------------------------------------------------------------------------------

describe("backpressure", () => {
  // Bounded by progress, not by the clock: a debug or sanitizer build (which masks every byte
  // slowly) and a loaded machine take many times longer than a release build on an idle one.
  it("send() reports BACKPRESSURE once 64 KiB wait, bufferedAmount is real, drain follows", { timeout: 120_000 }, async () => {
    // A server that stops reading: once the kernel buffers are full, what we send stays queued.
    const http = createHttpServer();
    const peer = deferred<Socket>();
    let received = 0;
    http.on("upgrade", (req: IncomingMessage, socket: Socket) => {
      const accept = acceptFor(String(req.headers["sec-websocket-key"]));
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      socket.on("data", (chunk: Buffer) => {
        received += chunk.length;
      });
      socket.pause();
      peer.resolve(socket);
    });
    http.listen(0, "127.0.0.1");
    await once(http, "listening");
    defer(() => new Promise<void>((resolve) => http.close(() => resolve())));
    const ws = await open(`ws://127.0.0.1:${(http.address() as { port: number }).port}/`);
    const socket = await withTimeout(peer.promise, 5000, "upgrade");
    defer(() => socket.destroy());
    const CHUNKS = 32;
    const chunk = Buffer.alloc(1024 * 1024, 1);
    const statuses: SendStatus[] = [];
    for (let i = 0; i < CHUNKS; i++) statuses.push(ws.send(chunk));
    expect(statuses[0]).toBe(SendStatus.SUCCESS);
    expect(statuses.at(-1)).toBe(SendStatus.BACKPRESSURE);
    expect(ws.bufferedAmount).toBeGreaterThan(0);
    expect(ws.bufferedAmount).toBeLessThanOrEqual(CHUNKS * chunk.length);
    // The kernel takes a few MiB at most (loopback buffers); the rest stays queued while the
    // peer does not read. Wait until the I/O thread has written all it can: the count stops
    // moving (however long masking the bytes takes on this build).
    let stuck = ws.bufferedAmount;
    for (let still = 0; still < 5; ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      still = ws.bufferedAmount === stuck ? still + 1 : 0;
      stuck = ws.bufferedAmount;
    }
    expect(stuck).toBeGreaterThan((CHUNKS - 16) * chunk.length);
    const drained = once(ws, "drain");
    socket.resume();
    await withTimeout(drained, 60_000, "drain");
    expect(ws.bufferedAmount).toBe(0);
    expect(ws.send("after")).toBe(SendStatus.SUCCESS);
    await withTimeout(
      new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (received >= CHUNKS * chunk.length) {
            clearInterval(timer);
            resolve();
          }
        }, 10);
      }),
      60_000,
      "the peer to receive everything",
    );
  });
});

// ---- TLS ----------------------------------------------------------------------------------------

describe("wss://", () => {
  let ca = "";
  let cert = "";
  let key = "";
  beforeAll(async () => {
    const { makeCa } = await import("./tls-certs.js");
    ({ ca, cert, key } = makeCa());
  });

  it("connects to our TLS server with the test CA and echoes", async () => {
    const server = await startEchoServer(defer, { host: "", tls: { cert, key } });
    const ws = await open(`wss://localhost:${server.port}/`, { tls: { ca } });
    const t = track(ws);
    ws.send("over tls");
    expect((await t.next()).data.toString()).toBe("over tls");
  });

  it("fails with reason tls without the CA, and with a CA for another host name", async () => {
    const server = await startEchoServer(defer, { host: "", tls: { cert, key } });
    const untrusted = await rejection(connect(`wss://localhost:${server.port}/`));
    expect(untrusted.reason).toBe("tls");
    expect(untrusted.code).toBe("UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
    // The certificate names localhost only: connecting by address fails the host name check.
    const wrongName = await rejection(connect(`wss://127.0.0.1:${server.port}/`, { tls: { ca } }));
    expect(wrongName.reason).toBe("tls");
  });

  it("trusts every certificate of a CA bundle, not only the first", async () => {
    const { makeCa } = await import("./tls-certs.js");
    const other = makeCa(); // an unrelated CA first in the bundle
    const server = await startEchoServer(defer, { host: "", tls: { cert, key } });
    const ws = await open(`wss://localhost:${server.port}/`, { tls: { ca: other.ca + ca } });
    ws.send("bundle");
    expect((await track(ws).next()).data.toString()).toBe("bundle");
    const wrong = await rejection(connect(`wss://localhost:${server.port}/`, { tls: { ca: other.ca } }));
    expect(wrong.reason).toBe("tls");
  });

  it("rejectUnauthorized: false accepts the self-signed chain", async () => {
    const server = await startEchoServer(defer, { host: "", tls: { cert, key } });
    const ws = await open(`wss://localhost:${server.port}/`, { tls: { rejectUnauthorized: false } });
    ws.send("trusting");
    expect((await track(ws).next()).data.toString()).toBe("trusting");
  });

  it("a plain ws:// connection to a TLS port fails instead of hanging", async () => {
    const server = await startEchoServer(defer, { host: "", tls: { cert, key } });
    const err = await rejection(connect(`ws://127.0.0.1:${server.port}/`, { handshakeTimeout: 3000 }));
    // The TLS server hangs up on a plain HTTP request.
    expect(err.reason).toBe("network");
    expect(err.code).toBe("ECONNRESET");
  });
});

// ---- permessage-deflate -----------------------------------------------------------------------

describe("permessage-deflate", () => {
  it("is offered when asked; both directions compressed: the ws server inflates what we send", { timeout: 30_000 }, async () => {
    const { wss, port } = await startWsServer({ perMessageDeflate: { threshold: 0 }, maxPayload: 64 * 1024 * 1024 });
    const offered = deferred<string>();
    let socketBytesRead = (): number => 0;
    wss.on("connection", (s: WsSocket, req: IncomingMessage) => {
      offered.resolve(String(req.headers["sec-websocket-extensions"]));
      socketBytesRead = () => req.socket.bytesRead;
      s.on("message", (data, isBinary) => s.send(data, { binary: isBinary, compress: true }));
    });
    const ws = await open(`ws://127.0.0.1:${port}/`, { perMessageDeflate: true });
    expect(await withTimeout(offered.promise, 5000, "connection")).toContain("permessage-deflate");
    expect(ws.extensions).toContain("permessage-deflate");
    const t = track(ws);
    const text = "compressible text ".repeat(60_000); // 1 MiB
    const binary = randomBytes(700_000);
    ws.send(text);
    await t.count(1);
    // The server read far less than the megabyte it inflated: our send went out compressed.
    expect(socketBytesRead()).toBeLessThan(100_000);
    ws.send(binary);
    ws.send("small");
    ws.send(text, false, false); // compress = false: sent as it is
    await t.count(4);
    expect(t.messages[0]!.data.toString()).toBe(text);
    expect(sha256(t.messages[1]!.data)).toBe(sha256(binary));
    expect(t.messages[2]!.data.toString()).toBe("small");
    expect(t.messages[3]!.data.toString()).toBe(text);
    expect(socketBytesRead()).toBeGreaterThan(text.length + binary.length);
  });

  it("compresses with the window the server sets (client_max_window_bits=10)", async () => {
    const { wss, port } = await startWsServer({ perMessageDeflate: { threshold: 0, clientMaxWindowBits: 10 } });
    let socketBytesRead = (): number => 0;
    const got = deferred<string>();
    wss.on("connection", (s: WsSocket, req: IncomingMessage) => {
      socketBytesRead = () => req.socket.bytesRead;
      s.on("message", (data) => got.resolve(data.toString()));
    });
    const ws = await open(`ws://127.0.0.1:${port}/`, { perMessageDeflate: true });
    expect(ws.extensions).toContain("client_max_window_bits=10");
    const text = "compressible text ".repeat(10_000);
    ws.send(text);
    // ws inflates with a 10-bit window: a wider one would fail with "invalid distance too far back".
    expect(await withTimeout(got.promise, 5000, "the message")).toBe(text);
    expect(socketBytesRead()).toBeLessThan(text.length / 10);
  });

  it("is not offered by default", async () => {
    const { wss, port } = await startWsServer({ perMessageDeflate: true });
    const offered = deferred<string | undefined>();
    wss.on("connection", (_s, req: IncomingMessage) => offered.resolve(req.headers["sec-websocket-extensions"]));
    const ws = await open(`ws://127.0.0.1:${port}/`);
    expect(await withTimeout(offered.promise, 5000, "connection")).toBeUndefined();
    expect(ws.extensions).toBe("");
  });
});

// ---- lifetime -----------------------------------------------------------------------------------

describe("process lifetime with clients", () => {
  /** The child printed CLOSED with the close `code` it saw, and exited by itself within 2 s of it. */
  function expectExitSoonAfterClose(r: ChildResult, code: number): void {
    expect(line(r, "CLOSED").value).toBe(code);
    expect(msFromLineToExit(r, "CLOSED"), "lingered after close").toBeLessThan(2000);
  }

  it("a child that connects, exchanges messages and closes exits by itself within 2 s", { timeout: 20_000 }, async () => {
    const port = await startWsEcho();
    const r = await runChild("client-exit.mjs", [String(port)], 15_000);
    expectExitedBySelf(r);
    line(r, "ECHOED");
    expectExitSoonAfterClose(r, 1000);
  });

  it("an open but unref()'d client lets the process exit", { timeout: 20_000 }, async () => {
    const port = await startWsEcho();
    const r = await runChild("client-exit.mjs", [String(port), "unref"], 15_000);
    expectExitedBySelf(r);
    expect(msFromLineToExit(r, "UNREFD")).toBeLessThan(2000);
  });

  it("a reconnecting client closed while waiting to reconnect exits by itself within 2 s", { timeout: 20_000 }, async () => {
    const { wss, port } = await startWsServer();
    wss.on("connection", (s: WsSocket) => setTimeout(() => s.terminate(), 50));
    const r = await runChild("client-reconnect-exit.mjs", [String(port)], 15_000);
    expectExitedBySelf(r);
    line(r, "REOPENED");
    expectExitSoonAfterClose(r, 3);
  });

  it("a server and a client share one reactor; closing both frees it and a new client starts a fresh one", async () => {
    const server = await startEchoServer(defer);
    const a = await open(urlOf(server));
    a.close();
    await track(a).closed();
    await server.close();
    const again = await startEchoServer(defer);
    const b = await open(urlOf(again));
    b.send("fresh");
    expect((await track(b).next()).data.toString()).toBe("fresh");
  });
});
