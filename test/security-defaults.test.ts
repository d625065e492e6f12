// Security defaults, as the README's SECURITY section states them: limits on by default, error
// answers that reveal nothing about the server, and TLS 1.2+ only.
import { connect } from "node:net";
import { connect as tlsConnect, type SecureVersion } from "node:tls";
import { beforeAll, describe, expect, it } from "vitest";
import { startServer, useCleanup, withTimeout } from "./helpers.js";
import { makeSelfSigned } from "./tls-certs.js";

const defer = useCleanup();

function httpExchange(port: number, request: string): Promise<string> {
  return withTimeout(
    new Promise((resolve) => {
      const s = connect(port, "127.0.0.1", () => s.write(request));
      defer(() => s.destroy());
      let data = "";
      s.on("data", (d) => (data += d.toString("latin1")));
      s.on("error", () => {});
      s.on("close", () => resolve(data));
    }),
    5000,
    "the server to answer and end the connection",
  );
}

const upgrade = (path: string, version = "13") =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: ${version}\r\n\r\n`;

describe("error answers reveal nothing about the server", () => {
  const cases: [string, string, number, Parameters<typeof startServer>[1]][] = [
    ["a wrong path", upgrade("/nope"), 404, { path: "/ws" }],
    ["an unsupported protocol version", upgrade("/", "7"), 426, {}],
    ["a plain HTTP request", "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 426, {}],
    ["a full server (maxConnections)", upgrade("/"), 503, { maxConnections: 1 }],
  ];
  for (const [name, request, status, options] of cases) {
    it(`${name}: status ${status}, no Server header, no library name, version or stack`, async () => {
      const server = await startServer(defer, options);
      if (status === 503) await httpExchangeKeepOpen(server.port);
      const answer = await httpExchange(server.port, request);
      expect(answer).toMatch(new RegExp(`^HTTP/1\\.[01] ${status}\\b`));
      const head = answer.slice(0, answer.indexOf("\r\n\r\n")).toLowerCase();
      expect(head).not.toMatch(/^server:/m);
      expect(head).not.toMatch(/^x-powered-by:/m);
      expect(answer.toLowerCase()).not.toMatch(/libwebsockets|lws|lwsnode|4\.3\.5|warmcat|\.c:\d+|\bat \S+ \(/);
    });
  }
});

/** Occupies the single allowed connection with a real upgrade that stays open. */
async function httpExchangeKeepOpen(port: number): Promise<void> {
  await withTimeout(
    new Promise<void>((resolve) => {
      const s = connect(port, "127.0.0.1", () => s.write(upgrade("/")));
      defer(() => s.destroy());
      s.once("data", () => resolve());
    }),
    5000,
    "the first connection to upgrade",
  );
}

describe("TLS", () => {
  let cert: string;
  let key: string;
  beforeAll(() => void ({ cert, key } = makeSelfSigned()));

  /** The protocol a TLS handshake with only `version` allowed ends up with, or the error. */
  function handshake(port: number, version: SecureVersion): Promise<string> {
    return withTimeout(
      new Promise((resolve) => {
        const s = tlsConnect({
          port,
          host: "127.0.0.1",
          servername: "localhost",
          rejectUnauthorized: false,
          minVersion: version,
          maxVersion: version,
          ciphers: "DEFAULT:@SECLEVEL=0", // let the client offer old versions; the server must refuse
        });
        defer(() => s.destroy());
        s.once("secureConnect", () => resolve(s.getProtocol() ?? "none"));
        s.once("error", (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
      }),
      5000,
      `a ${version} handshake`,
    );
  }

  it("accepts TLS 1.2 and TLS 1.3", async () => {
    const server = await startServer(defer, { tls: { cert, key } });
    expect(await handshake(server.port, "TLSv1.3")).toBe("TLSv1.3");
    expect(await handshake(server.port, "TLSv1.2")).toBe("TLSv1.2");
  });

  it("refuses TLS 1.0 and TLS 1.1", async () => {
    const server = await startServer(defer, { tls: { cert, key } });
    expect(await handshake(server.port, "TLSv1.1")).toMatch(/^error /);
    expect(await handshake(server.port, "TLSv1")).toMatch(/^error /);
  });
});
