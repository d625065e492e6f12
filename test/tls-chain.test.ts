// wss:// with a real-world certificate layout: a leaf issued by an intermediate CA (the chain
// must be served for clients that only trust the root), and more certificates chosen by the
// host name the client asks for (SNI). Certificates are made for the test with the openssl CLI.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect, type PeerCertificate } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { TlsConfigError } from "../lib/index.js";
import { createServerRejection, nextMessage, openTracked, startEchoServer, useCleanup, withTimeout } from "./helpers.js";

const defer = useCleanup();
let dir: string;
const pem = (name: string): string => readFileSync(join(dir, name), "utf8");

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { stdio: "ignore", cwd: dir });
}

/** A key and a certificate for `cn`, signed by `issuer` (self-signed when undefined). */
function makeCert(name: string, cn: string, issuer: string | undefined, ext: string): void {
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`];
  writeFileSync(join(dir, `${name}.ext`), ext);
  if (!issuer) {
    openssl("req", "-x509", ...key, "-subj", `/CN=${cn}`, "-days", "2", "-out", `${name}.crt`, "-extensions", "v3", "-config", `${name}.ext`);
    return;
  }
  openssl("req", ...key, "-subj", `/CN=${cn}`, "-out", `${name}.csr`);
  openssl("x509", "-req", "-in", `${name}.csr`, "-CA", `${issuer}.crt`, "-CAkey", `${issuer}.key`, "-CAcreateserial",
    "-days", "2", "-out", `${name}.crt`, "-extfile", `${name}.ext`);
}

const CA_EXT = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";
const leafExt = (...names: string[]): string =>
  `basicConstraints=CA:FALSE\nsubjectAltName=${names.map((n) => (/^\d/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(",")}\n`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "lwsnode-tls-chain-"));
  makeCert("root", "lwsnode test root", undefined, `[req]\ndistinguished_name=dn\n[dn]\n[v3]\n${CA_EXT}`);
  makeCert("inter", "lwsnode test intermediate", "root", CA_EXT);
  makeCert("leaf", "localhost", "inter", leafExt("localhost", "127.0.0.1"));
  makeCert("api", "api.test", "inter", leafExt("api.test"));
  makeCert("wild", "*.wild.test", "inter", leafExt("*.wild.test"));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A TLS handshake that trusts only the root; resolves with the certificate the server chose. */
function handshake(port: number, servername?: string): Promise<PeerCertificate> {
  return withTimeout(
    new Promise<PeerCertificate>((resolve, reject) => {
      const socket = tlsConnect({ host: "127.0.0.1", port, ca: pem("root.crt"), servername, ALPNProtocols: ["http/1.1"] }, () => {
        const cert = socket.getPeerCertificate();
        socket.destroy();
        resolve(cert);
      });
      socket.once("error", reject);
    }),
    5000,
    `TLS handshake (${servername ?? "no SNI"})`,
  );
}

describe("certificate chains", () => {
  it("serves the intermediates that follow the leaf in tls.cert: a client trusting only the root connects", async () => {
    const server = await startEchoServer(defer, { tls: { cert: pem("leaf.crt") + pem("inter.crt"), key: pem("leaf.key") } });
    const client = await openTracked(defer, `wss://localhost:${server.port}/`, { ca: pem("root.crt") });
    client.send("chained");
    expect((await nextMessage(client)).data.toString()).toBe("chained");
  });

  it("serves intermediates given as tls.ca", async () => {
    const server = await startEchoServer(defer, {
      tls: { cert: join(dir, "leaf.crt"), key: join(dir, "leaf.key"), ca: [join(dir, "inter.crt")] },
    });
    const cert = await handshake(server.port, "localhost");
    expect(cert.subject.CN).toBe("localhost");
  });

  it("without the intermediate the same client cannot verify the server", async () => {
    const server = await startEchoServer(defer, { tls: { cert: pem("leaf.crt"), key: pem("leaf.key") } });
    await expect(handshake(server.port, "localhost")).rejects.toThrow(/issuer|verify|certificate/i);
  });
});

describe("SNI", () => {
  const sniServer = () =>
    startEchoServer(defer, {
      tls: {
        cert: pem("leaf.crt"),
        key: pem("leaf.key"),
        ca: pem("inter.crt"),
        sni: {
          "*.wild.test": { cert: pem("wild.crt"), key: pem("wild.key"), ca: pem("inter.crt") },
          "api.test": { cert: pem("api.crt") + pem("inter.crt"), key: pem("api.key") },
        },
      },
    });

  it("answers each requested name with its certificate and chain, others with the main one", async () => {
    const server = await sniServer();
    expect((await handshake(server.port, "api.test")).subject.CN).toBe("api.test");
    expect((await handshake(server.port, "API.test")).subject.CN).toBe("api.test");
    expect((await handshake(server.port, "eu.wild.test")).subject.CN).toBe("*.wild.test");
    expect((await handshake(server.port, "localhost")).subject.CN).toBe("localhost");
    // A wildcard covers one label only: a.b.wild.test falls back to the main certificate.
    await expect(handshake(server.port, "a.b.wild.test")).rejects.toThrow(/altnames|does not match|hostname/i);
  });

  it("a WebSocket session works through an SNI certificate", async () => {
    const server = await sniServer();
    const client = await openTracked(defer, `wss://127.0.0.1:${server.port}/`, { ca: pem("root.crt"), servername: "api.test" } as WebSocket.ClientOptions & { servername: string });
    client.send("by name");
    expect((await nextMessage(client)).data.toString()).toBe("by name");
  });

  it("bad SNI entries fail createServer with a typed error", async () => {
    const base = { cert: pem("leaf.crt"), key: pem("leaf.key") };
    const mismatch = await createServerRejection(defer, {
      tls: { ...base, sni: { "api.test": { cert: pem("api.crt"), key: pem("wild.key") } } },
    });
    expect(mismatch).toBeInstanceOf(TlsConfigError);
    expect(mismatch.code).toBe("ERR_TLS_KEY_MISMATCH");
    expect(mismatch.message).toContain('tls.sni["api.test"]');
    const badName = await createServerRejection(defer, { tls: { ...base, sni: { "not a host": base } } });
    expect(badName.code).toBe("ERR_INVALID_ARG_TYPE");
    const badChain = await createServerRejection(defer, { tls: { ...base, ca: "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n" } });
    expect(badChain).toBeInstanceOf(TlsConfigError);
    expect(badChain.code).toBe("ERR_TLS_CERT");
  });
});
