// One port with node:http: attaching to an http.Server / https.Server, noServer with
// handleUpgrade; plain HTTP answers of a standalone server; reusePort; Unix domain sockets.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer, request, type IncomingMessage, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { connect as tcpConnect, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { connect, createServer, ListenError, type Server, type UpgradeRequest } from "../lib/index.js";
import { closed, deferred, frame, nextMessage, OP, openTracked, parseFrame, requireDist, sleep, upgradeRequest, useCleanup, withTimeout } from "./helpers.js";
import { makeCa, type TestCa } from "./tls-certs.js";

const defer = useCleanup();

async function httpServer(handler: (req: IncomingMessage, res: import("node:http").ServerResponse) => void = (req, res) => res.end(`app ${req.url}`)): Promise<HttpServer> {
  const http = createHttpServer(handler);
  http.listen(0, "127.0.0.1");
  await once(http, "listening");
  defer(() => new Promise<void>((resolve) => http.close(() => resolve())));
  defer(() => http.closeAllConnections());
  return http;
}

const portOf = (http: HttpServer): number => (http.address() as AddressInfo).port;

async function echoAttached(options: Parameters<typeof createServer>[0]): Promise<Server> {
  const server = await createServer({ message(ws, data, isBinary) { ws.send(data, isBinary); }, ...options });
  defer(() => server.close());
  return server;
}

/** A raw HTTP exchange: the whole response text (the server closes or we stop after `ms`). */
function rawHttp(port: number, text: string | Buffer, ms = 2000, host = "127.0.0.1"): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host, port });
    let out = Buffer.alloc(0);
    const timer = setTimeout(() => { socket.destroy(); resolve(out.toString("latin1")); }, ms);
    socket.on("data", (d: Buffer) => { out = Buffer.concat([out, d]); });
    socket.on("error", reject);
    socket.on("close", () => { clearTimeout(timer); resolve(out.toString("latin1")); });
    socket.write(text);
  });
}

function get(port: number, path: string, method = "GET"): Promise<{ status: number; reason: string; headers: IncomingMessage["headers"]; body: string; version: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, reason: res.statusMessage!, headers: res.headers, body, version: res.httpVersion }));
    });
    req.on("error", reject);
    req.end();
  });
}


describe("attached to an http.Server (`server`)", () => {
  it("takes over upgrades on its path; the app keeps its requests; ws and connect() echo through the shared port", async () => {
    const http = await httpServer();
    const server = await echoAttached({ server: http, path: "/ws" });
    expect(server.port).toBe(portOf(http));
    const nodeSockets: import("node:net").Socket[] = [];
    http.prependListener("upgrade", (_req: IncomingMessage, socket: import("node:net").Socket) => nodeSockets.push(socket));
    const ws = await openTracked(defer, `ws://127.0.0.1:${portOf(http)}/ws`);
    ws.send("hello");
    expect((await nextMessage(ws)).data.toString()).toBe("hello");
    // Node's socket object is gone and reads nothing more: the bytes go to the I/O thread only,
    // and closing Node's descriptor did not end the connection.
    expect(nodeSockets).toHaveLength(1);
    expect(nodeSockets[0]!.destroyed).toBe(true);
    const readByNode = nodeSockets[0]!.bytesRead;
    await sleep(100);
    const big = Buffer.alloc(300_000, 3);
    ws.send(big);
    expect(Buffer.compare((await nextMessage(ws)).data as Buffer, big)).toBe(0);
    expect(nodeSockets[0]!.bytesRead).toBe(readByNode);
    const ours = await connect(`ws://127.0.0.1:${portOf(http)}/ws`);
    defer(() => ours.terminate());
    const got = deferred<string>();
    ours.on("message", (d) => got.resolve(d.toString()));
    ours.send("from connect()");
    expect(await withTimeout(got.promise, 5000, "echo")).toBe("from connect()");
    const page = await get(portOf(http), "/page");
    expect(page.body).toBe("app /page");
    expect(server.connections).toBe(2);
  });

  it("leaves other paths to the app's own upgrade listener (Express-style routing on one port)", async () => {
    const http = await httpServer();
    const server = await echoAttached({ server: http, path: ["/live", "/feed"] });
    const seen: string[] = [];
    http.on("upgrade", (req: IncomingMessage, socket: import("node:stream").Duplex) => {
      if (req.url !== "/legacy") return;
      seen.push(req.url);
      socket.end("HTTP/1.1 418 I'm a teapot\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    });
    const answer = await rawHttp(portOf(http), upgradeRequest(portOf(http), { path: "/legacy" }));
    expect(answer.startsWith("HTTP/1.1 418")).toBe(true);
    expect(seen).toEqual(["/legacy"]);
    const ws = await openTracked(defer, `ws://127.0.0.1:${portOf(http)}/feed?x=1`);
    ws.send("feed");
    expect((await nextMessage(ws)).data.toString()).toBe("feed");
    expect(server.connections).toBe(1);
  });

  it("answers 404 (HTTP/1.1) to an upgrade on another path when nobody else listens for upgrades", async () => {
    const http = await httpServer();
    await echoAttached({ server: http, path: "/ws" });
    const answer = await rawHttp(portOf(http), upgradeRequest(portOf(http), { path: "/elsewhere" }));
    expect(answer).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
  });

  it("runs the upgrade hook with the node:http request, subprotocols and data as on a listening server", async () => {
    const http = await httpServer();
    const seen: UpgradeRequest[] = [];
    const opened = deferred<{ data: unknown; protocol: string; remote: string }>();
    await echoAttached({
      server: http,
      path: "/chat",
      upgrade(req) {
        seen.push(req);
        if (req.headers["x-token"] !== "ok") return { status: 401, body: "no" };
        return { protocol: "v2", data: { user: "ann" } };
      },
      open(ws) {
        opened.resolve({ data: ws.data, protocol: ws.protocol, remote: ws.remoteAddress });
      },
    });
    const refused = await rawHttp(portOf(http), upgradeRequest(portOf(http), { path: "/chat" }));
    expect(refused).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n/);
    const ws = new WebSocket(`ws://127.0.0.1:${portOf(http)}/chat?room=1`, ["v1", "v2"], { headers: { "x-token": "ok" } });
    defer(() => ws.terminate());
    await once(ws, "open");
    expect(ws.protocol).toBe("v2");
    expect(await withTimeout(opened.promise, 5000, "open")).toEqual({ data: { user: "ann" }, protocol: "v2", remote: "127.0.0.1" });
    expect(seen).toHaveLength(2);
    expect(seen[1]!.httpRequest?.url).toBe("/chat?room=1");
    expect(seen[1]!.httpRequest?.headers["x-token"]).toBe("ok");
    expect(seen[1]!.url).toBe("/chat?room=1");
    expect(seen[1]!.remoteAddress).toBe("127.0.0.1");
  });

  it("negotiates subprotocols and permessage-deflate on an attached server", async () => {
    const http = await httpServer();
    await echoAttached({ server: http, perMessageDeflate: { threshold: 16 } });
    const ws = new WebSocket(`ws://127.0.0.1:${portOf(http)}/`, ["a", "b"], { perMessageDeflate: true });
    defer(() => ws.terminate());
    await once(ws, "open");
    expect(ws.protocol).toBe("a");
    expect(ws.extensions).toContain("permessage-deflate");
    const big = "x".repeat(10_000);
    ws.send(big);
    expect((await nextMessage(ws)).data.toString()).toBe(big);
  });

  it("close() closes its WebSockets with 1001 and leaves the HTTP server serving", async () => {
    const http = await httpServer();
    const server = await createServer({ server: http });
    const ws = await openTracked(defer, `ws://127.0.0.1:${portOf(http)}/`);
    const gone = closed(ws);
    await server.close();
    expect((await gone).code).toBe(1001);
    expect((await get(portOf(http), "/still")).body).toBe("app /still");
    expect(http.listenerCount("upgrade")).toBe(0);
  });
});

describe("noServer with handleUpgrade", () => {
  it("hands over an upgrade by hand, also later, with the client's first frame already in `head`", async () => {
    const http = await httpServer();
    const server = await echoAttached({ noServer: true });
    expect(server.port).toBe(0);
    http.on("upgrade", (req: IncomingMessage, socket: import("node:stream").Duplex, head: Buffer) => {
      // decide asynchronously, as an app that authenticates first would
      setTimeout(() => server.handleUpgrade(req, socket, head), 50);
    });
    // One write: the upgrade request and a masked text frame right behind it.
    const socket = tcpConnect({ host: "127.0.0.1", port: portOf(http) });
    defer(() => socket.destroy());
    await once(socket, "connect");
    socket.write(Buffer.concat([Buffer.from(upgradeRequest(portOf(http), { path: "/any" })), frame({ opcode: OP.TEXT, payload: Buffer.from("early bird") })]));
    let buf = Buffer.alloc(0);
    const done = deferred<string>();
    socket.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      expect(buf.subarray(0, end).toString()).toMatch(/^HTTP\/1\.1 101/);
      const parsed = parseFrame(buf.subarray(end + 4));
      if (parsed) done.resolve(parsed.frame.payload.toString());
    });
    expect(await withTimeout(done.promise, 5000, "echo of the early frame")).toBe("early bird");
  });

  it("handleUpgrade is refused on a standalone server", async () => {
    const server = await echoAttached({ port: 0, host: "127.0.0.1" });
    expect(() => server.handleUpgrade({} as IncomingMessage, tcpConnect({ port: 1 }).on("error", () => {}), Buffer.alloc(0))).toThrow(TypeError);
  });

  it("rejects options that do not fit together", async () => {
    const http = await httpServer();
    await expect(createServer({ server: http, port: 8080 })).rejects.toMatchObject({ code: "ERR_INCOMPATIBLE_OPTION_PAIR" });
    await expect(createServer({ noServer: true, server: http })).rejects.toMatchObject({ code: "ERR_INCOMPATIBLE_OPTION_PAIR" });
    await expect(createServer({ unix: "/tmp/x.sock", port: 1 })).rejects.toMatchObject({ code: "ERR_INCOMPATIBLE_OPTION_PAIR" });
    await expect(createServer({ server: {} as HttpServer })).rejects.toMatchObject({ code: "ERR_INVALID_ARG_TYPE" });
  });
});

describe("attached to an https.Server (TLS in Node, bytes through a socketpair)", () => {
  let ca: TestCa;
  beforeAll(() => {
    ca = makeCa();
  });

  it("echoes over wss:// on the https port, with the client's address", async () => {
    const https = createHttpsServer({ cert: ca.cert, key: ca.key }, (req, res) => res.end("secure app"));
    https.listen(0, "127.0.0.1");
    await once(https, "listening");
    defer(() => new Promise<void>((resolve) => https.close(() => resolve())));
    defer(() => https.closeAllConnections());
    const remote = deferred<string>();
    const server = await echoAttached({ server: https as unknown as HttpServer, open(ws) { remote.resolve(ws.remoteAddress); } });
    const port = (https.address() as AddressInfo).port;
    const ws = await openTracked(defer, `wss://localhost:${port}/`, { ca: ca.ca });
    expect(await withTimeout(remote.promise, 5000, "open")).toBe("127.0.0.1");
    const big = Buffer.alloc(200_000, 7);
    ws.send(big);
    const back = await nextMessage(ws);
    expect(Buffer.compare(back.data as Buffer, big)).toBe(0);
    const gone = closed(ws);
    await server.close();
    expect((await gone).code).toBe(1001);
  });
});

describe("plain HTTP on a standalone server", () => {
  it("answers 426 with Upgrade: websocket on a WebSocket path and 404 elsewhere, HTTP/1.1 with a reason phrase and a plain body", async () => {
    const server = await echoAttached({ port: 0, host: "127.0.0.1", path: "/ws" });
    const ws = await get(server.port, "/ws");
    expect(ws.version).toBe("1.1");
    expect([ws.status, ws.reason]).toEqual([426, "Upgrade Required"]);
    expect(ws.headers.upgrade).toBe("websocket");
    expect(ws.headers["content-type"]).toMatch(/^text\/plain/);
    expect(ws.body).toBe("Upgrade Required\n");
    const other = await get(server.port, "/nope");
    expect([other.status, other.reason, other.body]).toEqual([404, "Not Found", "Not Found\n"]);
  });

  it("refusals libwebsockets writes itself are HTTP/1.1 with a reason phrase and no HTML", async () => {
    const server = await echoAttached({ port: 0, host: "127.0.0.1", path: "/ws" });
    const answer = await rawHttp(server.port, upgradeRequest(server.port, { path: "/wrong" }));
    expect(answer).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
    expect(answer.toLowerCase()).toContain("content-type: text/plain");
    expect(answer).not.toContain("<html");
    expect(answer).not.toContain("error.css");
  });

  it("an http(req) handler answers simple requests, sync or async; nothing returned gives the default", async () => {
    const seen: string[] = [];
    const server = await echoAttached({
      port: 0,
      host: "127.0.0.1",
      path: "/ws",
      http(req) {
        seen.push(`${req.method} ${req.url}`);
        if (req.path === "/health") return { body: "ok\n" };
        if (req.path === "/slow") return sleep(20).then(() => ({ status: 201, headers: { "content-type": "application/json" }, body: '{"a":1}' }));
        if (req.path === "/boom") throw new Error("handler failed");
        return undefined;
      },
    });
    const health = await get(server.port, "/health?full=1");
    expect([health.status, health.reason, health.body]).toEqual([200, "OK", "ok\n"]);
    expect(health.headers["content-type"]).toMatch(/^text\/plain/);
    const slow = await get(server.port, "/slow");
    expect([slow.status, slow.headers["content-type"], slow.body]).toEqual([201, "application/json", '{"a":1}']);
    const head = await get(server.port, "/health", "HEAD");
    expect([head.status, head.headers["content-length"], head.body]).toEqual([200, "3", ""]);
    expect((await get(server.port, "/ws")).status).toBe(426);
    const headDefault = await get(server.port, "/ws", "HEAD");
    expect([headDefault.status, headDefault.body]).toEqual([426, ""]);
    expect((await get(server.port, "/other")).status).toBe(404);
    const warned = deferred<Error>();
    process.once("warning", (w) => warned.resolve(w));
    expect((await get(server.port, "/boom")).status).toBe(500);
    expect((await withTimeout(warned.promise, 2000, "warning")).message).toBe("handler failed");
    expect(seen).toContain("GET /health?full=1");
    // WebSockets on the same port are unaffected
    const ws = await openTracked(defer, `ws://127.0.0.1:${server.port}/ws`);
    ws.send("still");
    expect((await nextMessage(ws)).data.toString()).toBe("still");
  });
});

describe("several processes on one port (reusePort)", () => {
  beforeAll(requireDist);

  it("two processes listen on one port and both get connections", { timeout: 30_000 }, async () => {
    const starters: Promise<number>[] = [];
    let port = 0;
    const children: ReturnType<typeof spawn>[] = [];
    for (let i = 0; i < 2; i++) {
      // the first picks a port, the second joins it
      if (i === 1) port = await starters[0]!;
      const child = spawn(process.execPath, [new URL("./fixtures/reuseport-server.mjs", import.meta.url).pathname, String(port)], { stdio: ["pipe", "pipe", "inherit"] });
      children.push(child);
      defer(() => { child.stdin!.end(); child.kill(); });
      const lines = createInterface({ input: child.stdout! });
      starters.push(new Promise((resolve) => lines.on("line", (l) => { if (l.startsWith("LISTENING ")) resolve(Number(l.slice(10))); })));
    }
    expect(await withTimeout(starters[1]!, 15_000, "second listener")).toBe(port);
    const pids = new Set<string>();
    for (let i = 0; i < 40 && pids.size < 2; i++) {
      const ws = await openTracked(defer, `ws://127.0.0.1:${port}/`);
      ws.send("who");
      pids.add((await nextMessage(ws)).data.toString());
      ws.terminate();
    }
    expect(pids).toEqual(new Set(children.map((c) => String(c.pid))));
  });

  it("without reusePort a second listener on the port fails with EADDRINUSE", async () => {
    const first = await echoAttached({ port: 0, host: "127.0.0.1", reusePort: true });
    const err = await createServer({ port: first.port, host: "127.0.0.1" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ListenError);
    expect((err as ListenError).code).toBe("EADDRINUSE");
  });
});

describe("Unix domain sockets", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "lwsnode-unix-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("serves on a socket path; ws+unix: URLs connect with our client and with ws", async () => {
    const path = join(dir, "app.sock");
    const server = await echoAttached({ unix: path });
    expect(server.port).toBe(0);
    const ours = await connect(`ws+unix://${path}:/chat?x=1`);
    defer(() => ours.terminate());
    const got = deferred<string>();
    ours.on("message", (d) => got.resolve(d.toString()));
    ours.send("over unix");
    expect(await withTimeout(got.promise, 5000, "echo")).toBe("over unix");
    const theirs = await openTracked(defer, `ws+unix://${path}:/`);
    theirs.send("ws too");
    expect((await nextMessage(theirs)).data.toString()).toBe("ws too");
  });

  it("refuses a path another server is using (EADDRINUSE) and replaces a stale one", async () => {
    const path = join(dir, "busy.sock");
    await echoAttached({ unix: path });
    const err = await createServer({ unix: path }).catch((e: unknown) => e);
    expect((err as ListenError).code).toBe("EADDRINUSE");
    const stalePath = join(dir, "stale.sock");
    const stale = await createServer({ unix: stalePath });
    await stale.close();
    const again = await echoAttached({ unix: stalePath });
    const ws = await openTracked(defer, `ws+unix://${stalePath}:/`);
    ws.send("fresh");
    expect((await nextMessage(ws)).data.toString()).toBe("fresh");
    expect(again.listening).toBe(true);
  });
});
