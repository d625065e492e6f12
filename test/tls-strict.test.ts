// TLS, complete and strict: unknown `tls` keys refused, mutual TLS both ways, minVersion,
// ciphers, servername, certificate reload without a restart (setTls), and TLS failures as
// Node's codes. Peers are Node's own `tls`/`https` and the `ws` package, with certificates made
// by the openssl CLI (test/tls-certs.ts).
import { once } from "node:events";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { X509Certificate } from "node:crypto";
import type { AddressInfo } from "node:net";
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from "node:tls";
import { beforeAll, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { connect, ConnectError, type PeerCertificate, TlsConfigError, type UpgradeRequest } from "../lib/index.js";
import { deferred, nextMessage, openTracked, startEchoServer, useCleanup, withTimeout } from "./helpers.js";
import { makePki, type TestPki } from "./tls-certs.js";

const defer = useCleanup();
let pki: TestPki;

beforeAll(() => {
  pki = makePki();
});

/** Resolves with the TLS socket once its handshake completed, or rejects with its error. */
function handshake(port: number, options: ConnectionOptions): Promise<TLSSocket> {
  return withTimeout(
    new Promise<TLSSocket>((resolve, reject) => {
      const socket = tlsConnect({ host: "127.0.0.1", port, servername: "localhost", ca: pki.serverCa, ...options });
      defer(() => socket.destroy());
      socket.once("secureConnect", () => resolve(socket));
      socket.once("error", reject);
    }),
    5000,
    "TLS handshake",
  );
}

/** A Node https server with a `ws` server on it: what our client talks to. */
async function nodeWssServer(options: Parameters<typeof createHttpsServer>[0]): Promise<{ https: HttpsServer; wss: WebSocketServer; port: number }> {
  const https = createHttpsServer({ cert: pki.server.cert, key: pki.server.key, ...options });
  const wss = new WebSocketServer({ server: https });
  wss.on("connection", (s) => s.on("message", (data, isBinary) => s.send(data, { binary: isBinary })));
  https.listen(0, "127.0.0.1");
  await once(https, "listening");
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        https.closeAllConnections();
        https.close(() => resolve());
      }),
  );
  return { https, wss, port: (https.address() as AddressInfo).port };
}

async function failure(promise: Promise<unknown>): Promise<ConnectError> {
  const err = await withTimeout(promise.then(() => undefined, (e: unknown) => e), 8000, "connect() to fail");
  expect(err, "connect() should have rejected").toBeInstanceOf(ConnectError);
  return err as ConnectError;
}

async function rejectionOf(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  return (await promise.then(() => undefined, (e: unknown) => e)) as Error & { code?: string };
}

/** What Node's own TLS client says about the same server (its error code). */
async function nodeVerdict(port: number, options: ConnectionOptions): Promise<string> {
  const err = await rejectionOf(handshake(port, options));
  return err?.code ?? "connected";
}

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

describe("unknown tls keys", () => {
  it("createServer refuses them, naming the key and the accepted ones", async () => {
    const err = await rejectionOf(startEchoServer(defer, { tls: { ...pki.server, SNICallback: () => undefined } as never }));
    expect(err).toBeInstanceOf(TlsConfigError);
    expect(err.code).toBe("ERR_TLS_UNKNOWN_OPTION");
    expect(err.message).toContain("tls.SNICallback");
    expect(err.message).toContain("requestCert");
    const sni = await rejectionOf(startEchoServer(defer, { tls: { ...pki.server, sni: { "alt.test": { ...pki.renewed, servername: "x" } } } as never }));
    expect(sni.code).toBe("ERR_TLS_UNKNOWN_OPTION");
    expect(sni.message).toContain('tls.sni["alt.test"].servername');
  });

  it("connect refuses them too", async () => {
    const err = await rejectionOf(connect("wss://localhost:1/", { tls: { ca: pki.serverCa, checkServerIdentity: () => undefined } as never }));
    expect(err).toBeInstanceOf(TlsConfigError);
    expect(err.code).toBe("ERR_TLS_UNKNOWN_OPTION");
    expect(err.message).toContain("tls.checkServerIdentity");
    expect(err.message).toContain("servername");
  });

  it("bad values get typed errors: minVersion, ciphers, ciphersuites", async () => {
    const version = await rejectionOf(startEchoServer(defer, { tls: { ...pki.server, minVersion: "TLSv1" } as never }));
    expect(version.code).toBe("ERR_INVALID_ARG_TYPE");
    const ciphers = await rejectionOf(startEchoServer(defer, { tls: { ...pki.server, ciphers: "NO-SUCH-CIPHER" } }));
    expect(ciphers.code).toBe("ERR_TLS_CIPHERS");
    const suites = await rejectionOf(connect("wss://localhost:1/", { tls: { ciphersuites: "TLS_NO_SUCH_SUITE" } }));
    expect(suites.code).toBe("ERR_TLS_CIPHERS");
  });
});

describe("mutual TLS, server side", () => {
  it("a client certificate the CA vouches for is accepted and visible in the upgrade hook and on the socket", async () => {
    let seen: UpgradeRequest | undefined;
    let socketCert: PeerCertificate | undefined;
    const server = await startEchoServer(defer, {
      tls: { ...pki.server, ca: pki.clientCa, requestCert: true },
      upgrade(req) {
        seen = req;
      },
      open(ws) {
        socketCert = ws.peerCertificate;
      },
    });
    const client = await openTracked(defer, `wss://localhost:${server.port}/`, { ca: pki.serverCa, cert: pki.alice.cert, key: pki.alice.key });
    client.send("hi");
    expect((await nextMessage(client)).data.toString()).toBe("hi");
    for (const cert of [seen?.peerCertificate, socketCert]) {
      expect(cert).toBeDefined();
      expect(cert!.subject).toContain("CN=alice");
      expect(cert!.issuer).toContain("CN=lwsnode client CA");
      expect(cert!.fingerprint256).toBe(fingerprint(pki.alice.cert));
      expect(cert!.raw.equals(new X509Certificate(pki.alice.cert).raw)).toBe(true);
      expect(cert!.authorized).toBe(true);
      expect(cert!.authorizationError).toBeUndefined();
    }
  });

  it("refuses a client without a certificate, and one signed by nobody it trusts", async () => {
    let opened = 0;
    const server = await startEchoServer(defer, {
      tls: { ...pki.server, ca: pki.clientCa, requestCert: true },
      open() {
        opened++;
      },
    });
    for (const identity of [{}, { cert: pki.mallory.cert, key: pki.mallory.key }]) {
      const ws = new WebSocket(`wss://localhost:${server.port}/`, { ca: pki.serverCa, ...identity });
      defer(() => ws.terminate());
      const [err] = (await withTimeout(once(ws, "error"), 5000, "refusal")) as [Error & { code?: string }];
      expect(err.code ?? err.message).toMatch(/CERTIFICATE_REQUIRED|UNKNOWN_CA|ECONNRESET|socket hang up|alert/i);
    }
    expect(opened).toBe(0);
    expect(server.stats().connectionsTotal).toBe(0);
  });

  it("rejectUnauthorized: false lets an unverified client in, saying why it is not authorized", async () => {
    const certs: (PeerCertificate | undefined)[] = [];
    const server = await startEchoServer(defer, {
      tls: { ...pki.server, ca: pki.clientCa, requestCert: true, rejectUnauthorized: false },
      open(ws) {
        certs.push(ws.peerCertificate);
      },
    });
    const mallory = await openTracked(defer, `wss://localhost:${server.port}/`, { ca: pki.serverCa, cert: pki.mallory.cert, key: pki.mallory.key });
    mallory.send("m");
    await nextMessage(mallory);
    const anonymous = await openTracked(defer, `wss://localhost:${server.port}/`, { ca: pki.serverCa });
    anonymous.send("a");
    await nextMessage(anonymous);
    expect(certs).toHaveLength(2);
    expect(certs[0]!.subject).toContain("CN=mallory");
    expect(certs[0]!.authorized).toBe(false);
    expect(certs[0]!.authorizationError).toBe("DEPTH_ZERO_SELF_SIGNED_CERT");
    expect(certs[1]).toBeUndefined();
  });

  it("without requestCert no certificate is asked for", async () => {
    let cert: PeerCertificate | undefined;
    let opened = false;
    const server = await startEchoServer(defer, {
      tls: pki.server,
      open(ws) {
        opened = true;
        cert = ws.peerCertificate;
      },
    });
    const client = await openTracked(defer, `wss://localhost:${server.port}/`, { ca: pki.serverCa, cert: pki.alice.cert, key: pki.alice.key });
    client.send("x");
    await nextMessage(client);
    expect(opened).toBe(true);
    expect(cert).toBeUndefined();
  });
});

describe("mutual TLS, client side", () => {
  it("presents tls.cert/key to a Node https server that requires a client certificate", async () => {
    const { wss, port } = await nodeWssServer({ requestCert: true, rejectUnauthorized: true, ca: pki.clientCa });
    const subject = deferred<string>();
    wss.on("connection", (_s, req) => subject.resolve(String((req.socket as TLSSocket).getPeerCertificate().subject.CN)));
    const ws = await withTimeout(connect(`wss://localhost:${port}/`, { tls: { ca: pki.serverCa, cert: pki.alice.cert, key: pki.alice.key } }), 5000, "connect");
    defer(() => ws.terminate());
    expect(await withTimeout(subject.promise, 5000, "client certificate")).toBe("alice");
  });

  it("decrypts an encrypted client key with tls.passphrase, and our own server sees the certificate", async () => {
    let cn = "";
    const server = await startEchoServer(defer, {
      tls: { ...pki.server, ca: pki.clientCa, requestCert: true },
      open(ws) {
        cn = ws.peerCertificate?.subject ?? "";
      },
    });
    const ws = await withTimeout(
      connect(`wss://localhost:${server.port}/`, { tls: { ca: pki.serverCa, cert: pki.alice.cert, key: pki.aliceEncryptedKey, passphrase: "s3cret" } }),
      5000,
      "connect",
    );
    defer(() => ws.terminate());
    expect(cn).toContain("CN=alice");
    const wrong = await rejectionOf(connect(`wss://localhost:${server.port}/`, { tls: { cert: pki.alice.cert, key: pki.aliceEncryptedKey, passphrase: "nope" } }));
    expect(wrong.code).toBe("ERR_TLS_KEY");
    const mismatch = await rejectionOf(connect(`wss://localhost:${server.port}/`, { tls: { cert: pki.alice.cert, key: pki.mallory.key } }));
    expect(mismatch.code).toBe("ERR_TLS_KEY_MISMATCH");
  });

  it("without a certificate, a server that requires one fails the connect with reason tls and Node's ERR_SSL_ code", async () => {
    // TLS 1.2: the server refuses inside the handshake, with a handshake_failure alert.
    const tls12 = await nodeWssServer({ requestCert: true, rejectUnauthorized: true, ca: pki.clientCa, maxVersion: "TLSv1.2" });
    const old = await failure(connect(`wss://localhost:${tls12.port}/`, { tls: { ca: pki.serverCa } }));
    expect(old.reason).toBe("tls");
    expect(old.code).toBe("ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE");
    expect(old.message).toBe(`connect wss://localhost:${tls12.port}/: the TLS handshake failed: sslv3 alert handshake failure`);
    // TLS 1.3: our handshake is over when the server's certificate_required alert comes. The
    // server closes with our upgrade request unread, so its kernel resets the connection, which
    // may overtake the alert (Node's own clients then see ECONNRESET too): either is reported
    // for what it is.
    const tls13 = await nodeWssServer({ requestCert: true, rejectUnauthorized: true, ca: pki.clientCa });
    const err = await failure(connect(`wss://localhost:${tls13.port}/`, { tls: { ca: pki.serverCa } }));
    if (err.reason === "tls") {
      expect(err.code).toBe("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED");
      expect(err.message).toMatch(/: the TLS handshake failed: tlsv13 alert certificate required$/);
    } else {
      expect(err.reason).toBe("network");
      expect(err.code).toBe("ECONNRESET");
    }
  });
});

describe("minVersion, ciphers, ciphersuites", () => {
  it("server minVersion TLSv1.3 refuses a TLS 1.2-only client and accepts TLS 1.3", async () => {
    const server = await startEchoServer(defer, { tls: { ...pki.server, minVersion: "TLSv1.3" } });
    const old = await rejectionOf(handshake(server.port, { maxVersion: "TLSv1.2" }));
    expect(old).toBeInstanceOf(Error);
    const modern = await handshake(server.port, {});
    expect(modern.getProtocol()).toBe("TLSv1.3");
    const plain = await startEchoServer(defer, { tls: pki.server });
    expect((await handshake(plain.port, { maxVersion: "TLSv1.2" })).getProtocol()).toBe("TLSv1.2");
  });

  it("server ciphers and ciphersuites decide what is negotiated", async () => {
    for (const cipher of ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"]) {
      const server = await startEchoServer(defer, { tls: { ...pki.server, ciphers: cipher } });
      expect((await handshake(server.port, { maxVersion: "TLSv1.2" })).getCipher().name).toBe(cipher);
    }
    for (const suite of ["TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"]) {
      const server = await startEchoServer(defer, { tls: { ...pki.server, ciphersuites: suite } });
      expect((await handshake(server.port, {})).getCipher().name).toBe(suite);
    }
  });

  it("client minVersion, ciphers and ciphersuites, seen by a Node server", async () => {
    const { https, port } = await nodeWssServer({ maxVersion: "TLSv1.2" });
    const negotiated: string[] = [];
    https.on("secureConnection", (s: TLSSocket) => negotiated.push(`${s.getProtocol()} ${s.getCipher().name}`));
    const refused = await failure(connect(`wss://localhost:${port}/`, { tls: { ca: pki.serverCa, minVersion: "TLSv1.3" } }));
    expect(refused.reason).toBe("tls");
    expect(refused.code).toMatch(/^ERR_SSL_/);
    const ws = await withTimeout(connect(`wss://localhost:${port}/`, { tls: { ca: pki.serverCa, ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384" } }), 5000, "connect");
    defer(() => ws.terminate());
    expect(negotiated).toContain("TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384");

    const modern = await nodeWssServer({});
    const suites: string[] = [];
    modern.https.on("secureConnection", (s: TLSSocket) => suites.push(s.getCipher().name));
    const ws13 = await withTimeout(connect(`wss://localhost:${modern.port}/`, { tls: { ca: pki.serverCa, ciphersuites: "TLS_CHACHA20_POLY1305_SHA256" } }), 5000, "connect");
    defer(() => ws13.terminate());
    expect(suites).toEqual(["TLS_CHACHA20_POLY1305_SHA256"]);
  });
});

describe("servername", () => {
  it("sends SNI and verifies the certificate for tls.servername; the Host header keeps the URL's host", async () => {
    const { https, wss, port } = await nodeWssServer({});
    const sni: (string | false)[] = [];
    https.on("secureConnection", (s: TLSSocket) => sni.push(s.servername ?? false));
    const host = deferred<string>();
    wss.on("connection", (_s, req) => host.resolve(String(req.headers.host)));
    // The certificate names localhost and alt.test, not 127.0.0.1.
    const byAddress = await failure(connect(`wss://127.0.0.1:${port}/`, { tls: { ca: pki.serverCa } }));
    expect(byAddress.code).toBe("ERR_TLS_CERT_ALTNAME_INVALID");
    const ws = await withTimeout(connect(`wss://127.0.0.1:${port}/`, { tls: { ca: pki.serverCa, servername: "alt.test" } }), 5000, "connect");
    defer(() => ws.terminate());
    expect(await withTimeout(host.promise, 5000, "Host header")).toBe(`127.0.0.1:${port}`);
    expect(sni.at(-1)).toBe("alt.test");
    const wrong = await failure(connect(`wss://127.0.0.1:${port}/`, { tls: { ca: pki.serverCa, servername: "other.test" } }));
    expect(wrong.code).toBe("ERR_TLS_CERT_ALTNAME_INVALID");
  });
});

describe("setTls: certificates replaced without a restart", () => {
  it("a new connection sees the renewed certificate while an old one stays up", async () => {
    const server = await startEchoServer(defer, { tls: pki.server });
    const old = await openTracked(defer, `wss://localhost:${server.port}/`, { ca: pki.serverCa });
    const before = await handshake(server.port, {});
    expect(before.getPeerCertificate().subject.CN).toBe("localhost");

    await server.setTls(pki.renewed);
    const after = await handshake(server.port, {});
    expect(after.getPeerCertificate().subject.CN).toBe("renewed");
    expect(after.getPeerCertificate().fingerprint256).toBe(fingerprint(pki.renewed.cert));
    old.send("still here");
    expect((await nextMessage(old)).data.toString()).toBe("still here");
    const fresh = await openTracked(defer, `wss://localhost:${server.port}/`, { ca: pki.serverCa });
    fresh.send("new");
    expect((await nextMessage(fresh)).data.toString()).toBe("new");
  });

  it("a renewal with another key type (ECDSA to RSA) replaces the old certificate entirely", async () => {
    const server = await startEchoServer(defer, { tls: pki.server });
    await server.setTls(pki.rsa);
    for (const maxVersion of ["TLSv1.2", "TLSv1.3"] as const) {
      const socket = await handshake(server.port, { maxVersion });
      expect(socket.getPeerCertificate().subject.CN).toBe("rsa");
    }
    await server.setTls(pki.server);
    expect((await handshake(server.port, { maxVersion: "TLSv1.2" })).getPeerCertificate().subject.CN).toBe("localhost");
  });

  it("updates SNI entries and the policy; an unusable one is refused and the old settings stay", async () => {
    const server = await startEchoServer(defer, { tls: pki.server });
    expect((await handshake(server.port, { servername: "alt.test" })).getPeerCertificate().subject.CN).toBe("localhost");
    await server.setTls({ ...pki.server, sni: { "alt.test": pki.renewed } });
    expect((await handshake(server.port, { servername: "alt.test" })).getPeerCertificate().subject.CN).toBe("renewed");
    expect((await handshake(server.port, {})).getPeerCertificate().subject.CN).toBe("localhost");

    const bad = await rejectionOf(server.setTls({ cert: pki.server.cert, key: pki.renewed.key }));
    expect(bad).toBeInstanceOf(TlsConfigError);
    expect(bad.code).toBe("ERR_TLS_KEY_MISMATCH");
    expect((await handshake(server.port, { servername: "alt.test" })).getPeerCertificate().subject.CN).toBe("renewed");

    await server.setTls({ ...pki.server, minVersion: "TLSv1.3" });
    expect(await rejectionOf(handshake(server.port, { maxVersion: "TLSv1.2" }))).toBeInstanceOf(Error);
    expect((await handshake(server.port, { servername: "alt.test" })).getPeerCertificate().subject.CN).toBe("localhost");
  });

  it("turns on client certificates for new handshakes", async () => {
    const server = await startEchoServer(defer, { tls: pki.server });
    await server.setTls({ ...pki.server, ca: pki.clientCa, requestCert: true });
    expect(await rejectionOf(handshake(server.port, {}).then((s) => once(s, "data")))).toBeInstanceOf(Error);
    const ok = await openTracked(defer, `wss://localhost:${server.port}/`, { ca: pki.serverCa, cert: pki.alice.cert, key: pki.alice.key });
    ok.send("mtls");
    expect((await nextMessage(ok)).data.toString()).toBe("mtls");
  });

  it("is refused on a server without TLS and after close", async () => {
    const plain = await startEchoServer(defer, {});
    expect((await rejectionOf(plain.setTls(pki.server))).code).toBe("ERR_INVALID_ARG_TYPE");
    const server = await startEchoServer(defer, { tls: pki.server });
    await server.close();
    expect((await rejectionOf(server.setTls(pki.renewed))).code).toBe("ERR_CLOSED");
  });
});

describe("TLS errors: Node's codes, OpenSSL's reason, no lws internals", () => {
  const cases: [string, () => { cert: string; key: string }, () => string | undefined][] = [
    ["a self-signed certificate", () => pki.selfSigned, () => undefined],
    ["an expired certificate", () => pki.expired, () => pki.serverCa],
  ];
  for (const [what, identity, ca] of cases) {
    it(`${what}: the same code Node's tls client reports`, async () => {
      const server = await startEchoServer(defer, { tls: identity() });
      const expected = await nodeVerdict(server.port, { ca: ca() ?? [] });
      expect(expected).not.toBe("connected");
      const err = await failure(connect(`wss://localhost:${server.port}/`, ca() ? { tls: { ca: ca()! } } : {}));
      expect(err.reason).toBe("tls");
      expect(err.code).toBe(expected);
      expect(err.message).not.toMatch(/\n|X509_V_ERR|tls=|didn't look good/);
      expect(err.message).toMatch(/certificate/);
    });
  }

  it("an untrusted CA: UNABLE_TO_GET_ISSUER_CERT_LOCALLY, OpenSSL's first verification error", async () => {
    // Node's client lets verification run on past the first error and reports the last one
    // (UNABLE_TO_VERIFY_LEAF_SIGNATURE for a chain of one certificate); ours stops at the first.
    const server = await startEchoServer(defer, { tls: pki.server });
    const err = await failure(connect(`wss://localhost:${server.port}/`));
    expect(err.reason).toBe("tls");
    expect(err.code).toBe("UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
    expect(err.message).toBe(`connect wss://localhost:${server.port}/: the server's certificate was refused: unable to get local issuer certificate`);
  });

  it("names the reason: CERT_HAS_EXPIRED says the certificate has expired", async () => {
    const server = await startEchoServer(defer, { tls: pki.expired });
    const err = await failure(connect(`wss://localhost:${server.port}/`, { tls: { ca: pki.serverCa } }));
    expect(err.code).toBe("CERT_HAS_EXPIRED");
    expect(err.message).toBe(`connect wss://localhost:${server.port}/: the server's certificate was refused: certificate has expired`);
  });
});
