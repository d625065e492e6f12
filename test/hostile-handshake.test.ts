// Hostile upgrade requests (RFC 6455 §4.2.1): a request that is not a valid WebSocket opening
// handshake is never upgraded. The server answers with an HTTP error or drops the connection,
// ends it promptly, reveals nothing about its internals, opens no WebSocket, and keeps serving.
// limits.test.ts covers the slowloris and the 8 KiB header limit.
import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import type { Server } from "../lib/index.js";
import { nextMessage, openTracked, rawConnect, startServer, urlOf, useCleanup, withTimeout } from "./helpers.js";

const defer = useCleanup();

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

function request(lines: string[], requestLine = "GET / HTTP/1.1"): string {
  return [requestLine, ...lines, "", ""].join("\r\n");
}

const goodHeaders = (): string[] => [
  "Host: 127.0.0.1",
  "Upgrade: websocket",
  "Connection: Upgrade",
  `Sec-WebSocket-Key: ${KEY}`,
  "Sec-WebSocket-Version: 13",
];

/** Header names and values in lower case; the key's value keeps its case (it is base64). */
const lowerCased = (): string[] =>
  goodHeaders().map((h) => {
    const [name, value] = h.split(": ") as [string, string];
    return `${name.toLowerCase()}: ${/key/i.test(name) ? value : value.toLowerCase()}`;
  });
const without = (name: string): string[] => goodHeaders().filter((h) => !h.toLowerCase().startsWith(name.toLowerCase()));
const replacing = (name: string, line: string): string[] => [...without(name), line];

/** Sends `bytes` (then half-closes if `endAfterWrite`) and collects what the server says until it ends the connection. */
function exchange(port: number, bytes: string | Buffer, endAfterWrite = false): Promise<{ received: string; ms: number }> {
  const socket = connect(port, "127.0.0.1");
  defer(() => socket.destroy());
  const t0 = Date.now();
  let received = "";
  socket.on("data", (d) => (received += d.toString("latin1")));
  socket.on("error", () => {});
  socket.once("connect", () => {
    socket.write(bytes);
    if (endAfterWrite) socket.end();
  });
  return withTimeout(
    new Promise((resolve) => socket.once("close", () => resolve({ received, ms: Date.now() - t0 }))),
    8000,
    "the server to end the connection",
  );
}

interface Recorder {
  server: Server;
  opens: number;
}

async function countingServer(): Promise<Recorder> {
  const rec: Recorder = { server: undefined as unknown as Server, opens: 0 };
  rec.server = await startServer(defer, {
    open() {
      rec.opens++;
    },
    message(ws, data, isBinary) {
      ws.send(data, isBinary);
    },
  });
  return rec;
}

/** Never upgraded; an HTTP error status or nothing at all; no internals; still serving. */
async function expectRefused(rec: Recorder, received: string): Promise<void> {
  expect(received).not.toMatch(/^HTTP\/1\.[01] 101/);
  if (received.length > 0) expect(received).toMatch(/^HTTP\/1\.[01] [45]\d\d /);
  expect(received.toLowerCase()).not.toMatch(/libwebsockets|lws_|\.c:\d+|\bat .*\(.*:\d+:\d+\)|stack/);
  expect(rec.opens).toBe(0);
  expect(rec.server.stats().connectionsTotal).toBe(0);
  const client = await openTracked(defer, urlOf(rec.server));
  client.send("served");
  expect((await nextMessage(client)).data.toString()).toBe("served");
}

describe("invalid opening handshakes are refused", () => {
  const cases: [string, string][] = [
    ["no Sec-WebSocket-Key", request(without("Sec-WebSocket-Key"))],
    ["an empty Sec-WebSocket-Key", request(replacing("Sec-WebSocket-Key", "Sec-WebSocket-Key: "))],
    ["a Sec-WebSocket-Key that is not base64 of 16 bytes", request(replacing("Sec-WebSocket-Key", "Sec-WebSocket-Key: not-a-key"))],
    ["a Sec-WebSocket-Key with characters outside base64", request(replacing("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub2!jZQ=="))],
    ["a Sec-WebSocket-Key of 300 characters", request(replacing("Sec-WebSocket-Key", `Sec-WebSocket-Key: ${"A".repeat(300)}`))],
    ["Sec-WebSocket-Version: 8", request(replacing("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"))],
    ["Sec-WebSocket-Version: 99999999999", request(replacing("Sec-WebSocket-Version", "Sec-WebSocket-Version: 99999999999"))],
    ["no Sec-WebSocket-Version", request(without("Sec-WebSocket-Version"))],
    ["the POST method (RFC 6455 §4.1: the handshake is a GET)", request(goodHeaders(), "POST / HTTP/1.1")],
    ["the PUT method", request(goodHeaders(), "PUT / HTTP/1.1")],
    ["an unknown method", request(goodHeaders(), "BREW / HTTP/1.1")],
    ["HTTP/1.0 (RFC 6455 §4.1: HTTP/1.1 or higher)", request(goodHeaders(), "GET / HTTP/1.0")],
    ["HTTP/0.9", request(goodHeaders(), "GET / HTTP/0.9")],
    ["a malformed HTTP version", request(goodHeaders(), "GET / HTTX/1.1")],
    ["a 10 KiB request line", request(goodHeaders(), `GET /${"p".repeat(10_000)} HTTP/1.1`)],
    ["an 8 KiB query string", request(goodHeaders(), `GET /?${"q=1&".repeat(2048)} HTTP/1.1`)],
    ["500 headers, 11 KB in all (over maxHeaderSize)", request([...goodHeaders(), ...Array.from({ length: 500 }, (_, i) => `X-Header-${i}: ${"v".repeat(10)}`)])],
    ["a header line without a colon", request([...goodHeaders(), "NoColonHere"])],
  ];
  for (const [name, bytes] of cases) {
    it(`${name}: not upgraded`, async () => {
      const rec = await countingServer();
      const { received } = await exchange(rec.server.port, bytes, true);
      await expectRefused(rec, received);
    });
  }

  it("Sec-WebSocket-Version: 8 is answered 426 with Sec-WebSocket-Version: 13 (RFC 6455 §4.4)", async () => {
    const rec = await countingServer();
    const { received } = await exchange(rec.server.port, request(replacing("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8")), true);
    expect(received).toMatch(/^HTTP\/1\.[01] 426\b/);
    expect(received.toLowerCase(), "the versions the server speaks").toMatch(/\r\nsec-websocket-version: 13\r\n/);
    await expectRefused(rec, received);
  });
});

describe("NUL bytes in a header value are answered 400", () => {
  const cases: [string, string][] = [
    ["in a custom header's value", request([...goodHeaders(), "X-Token: abc\0def"])],
    ["in the Origin header", request([...goodHeaders(), "Origin: http://a\0.example"])],
    ["in Sec-WebSocket-Protocol", request([...goodHeaders(), "Sec-WebSocket-Protocol: chat\0admin"])],
    ["at the start of a value", request([...goodHeaders(), "X-Empty: \0"])],
  ];
  for (const [name, bytes] of cases) {
    for (const hook of [false, true]) {
      it(`${name}${hook ? ", with an upgrade hook (which never sees it)" : ""}: 400, not upgraded`, async () => {
        const seen: string[] = [];
        const rec: Recorder = { server: undefined as unknown as Server, opens: 0 };
        rec.server = await startServer(defer, {
          ...(hook ? { upgrade: (req: { url: string }) => void seen.push(req.url) } : {}),
          open() {
            rec.opens++;
          },
          message(ws, data, isBinary) {
            ws.send(data, isBinary);
          },
        });
        const { received } = await exchange(rec.server.port, Buffer.from(bytes, "latin1"), true);
        expect(received).toMatch(/^HTTP\/1\.[01] 400\b/);
        await expectRefused(rec, received);
        expect(seen).toEqual(hook ? ["/"] : []); // only the valid request of expectRefused
      });
    }
  }
});

describe("with an upgrade hook", () => {
  it("invalid requests are refused natively: the hook never sees them", async () => {
    const seen: string[] = [];
    const server = await startServer(defer, { upgrade: (req) => void seen.push(req.url) });
    const bad = await exchange(server.port, request(replacing("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8")), true);
    expect(bad.received).toMatch(/^HTTP\/1\.[01] 426\b/);
    const put = await exchange(server.port, request(goodHeaders(), "PUT / HTTP/1.1"), true);
    expect(put.received).not.toMatch(/^HTTP\/1\.[01] 101/);
    const good = await rawConnect(server.port); // resolves on a valid 101
    defer(() => good.destroy());
    expect(seen).toEqual(["/"]);
  });
});

describe("valid opening handshakes are upgraded", () => {
  const cases: [string, string][] = [
    ["the minimal RFC 6455 request", request(goodHeaders())],
    ["lower-case header names and values (except the key)", request(lowerCased())],
    ["Connection: keep-alive, Upgrade", request(replacing("Connection", "Connection: keep-alive, Upgrade"))],
    ["HTTP/1.1 with extra headers (Origin, User-Agent)", request([...goodHeaders(), "Origin: http://example.test", "User-Agent: test"])],
  ];
  for (const [name, bytes] of cases) {
    it(`${name}: 101`, async () => {
      const rec = await countingServer();
      const socket = connect(rec.server.port, "127.0.0.1");
      defer(() => socket.destroy());
      let received = "";
      await withTimeout(
        new Promise<void>((resolve) => {
          socket.on("data", (d) => {
            received += d.toString("latin1");
            if (received.includes("\r\n\r\n")) resolve();
          });
          socket.write(bytes);
        }),
        5000,
        "the 101 response",
      );
      expect(received).toMatch(/^HTTP\/1\.1 101 /);
    });
  }
});

describe("garbage instead of HTTP", () => {
  const garbage: [string, Buffer][] = [
    ["random binary", Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff))],
    ["a WebSocket frame without a handshake", Buffer.from([0x81, 0x85, 1, 2, 3, 4, 0x69, 0x67, 0x6f, 0x68, 0x6e])],
    ["a TLS ClientHello on the plain port", Buffer.from("160301020001000200030300000000000000", "hex")],
    ["only CRLFs", Buffer.from("\r\n".repeat(2000))],
    ["64 KiB of one header line that never ends", Buffer.from(`GET / HTTP/1.1\r\nX-Long: ${"z".repeat(65536)}`)],
  ];
  for (const [name, bytes] of garbage) {
    it(`${name}: the connection is ended, nothing upgraded`, async () => {
      const rec = await countingServer();
      const { received } = await exchange(rec.server.port, bytes, false);
      await expectRefused(rec, received);
    });
  }

  it("a connection that sends nothing and closes is harmless", async () => {
    const rec = await countingServer();
    await exchange(rec.server.port, Buffer.alloc(0), true);
    await expectRefused(rec, "");
  });

  it("a request cut off in the middle of the headers is dropped when the client hangs up", async () => {
    const rec = await countingServer();
    const { received } = await exchange(rec.server.port, request(goodHeaders()).slice(0, 60), true);
    await expectRefused(rec, received);
  });

  it("200 connections sending garbage at once are all ended while a client is served", { timeout: 20_000 }, async () => {
    const rec = await countingServer();
    const good = await openTracked(defer, urlOf(rec.server));
    const all = Array.from({ length: 200 }, (_, i) =>
      exchange(rec.server.port, i % 2 ? Buffer.from([0, 1, 2, 3, 0xff, 0xfe]) : request(without("Sec-WebSocket-Key")), i % 2 === 0),
    );
    for (let i = 0; i < 10; i++) {
      good.send(`m${i}`);
      expect((await nextMessage(good)).data.toString()).toBe(`m${i}`);
    }
    const results = await Promise.all(all);
    for (const r of results) expect(r.received).not.toMatch(/^HTTP\/1\.[01] 101/);
    expect(rec.opens).toBe(1);
  });
});
