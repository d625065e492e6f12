// wss://: the `tls` option, with certificates generated for the test by the openssl CLI.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createServer, TlsConfigError } from "../lib/index.js";
import { nextMessage, openTracked, startEchoServer, useCleanup, withTimeout } from "./helpers.js";

const defer = useCleanup();
let dir: string;
let certPath: string;
let keyPath: string;
let encryptedKeyPath: string;
let otherKeyPem: string;

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { stdio: "ignore" });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "lwsnode-tls-"));
  certPath = join(dir, "cert.pem");
  keyPath = join(dir, "key.pem");
  encryptedKeyPath = join(dir, "key.enc.pem");
  const common = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost", "-days", "2"];
  openssl("req", "-x509", ...common, "-keyout", keyPath, "-out", certPath);
  openssl("pkcs8", "-topk8", "-in", keyPath, "-out", encryptedKeyPath, "-passout", "pass:s3cret", "-v2", "aes-256-cbc");
  const other = join(dir, "other");
  openssl("req", "-x509", ...common, "-keyout", `${other}.key`, "-out", `${other}.crt`);
  otherKeyPem = readFileSync(`${other}.key`, "utf8");
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const wssUrl = (port: number) => `wss://localhost:${port}/`;

describe("wss", () => {
  it("echoes over TLS with certificate and key given as file paths, trusting the self-signed CA", async () => {
    const server = await startEchoServer(defer, { tls: { cert: certPath, key: keyPath } });
    const client = await openTracked(defer, wssUrl(server.port), { ca: readFileSync(certPath) });
    client.send("over tls");
    const got = await nextMessage(client);
    expect(got.data.toString()).toBe("over tls");
    expect(got.isBinary).toBe(false);
  });

  it("accepts PEM text and Buffers, and a 1 MiB binary message round-trips", async () => {
    const server = await startEchoServer(defer, { tls: { cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath) } });
    const client = await openTracked(defer, wssUrl(server.port), { ca: readFileSync(certPath) });
    const payload = Buffer.alloc(1024 * 1024, 7);
    client.send(payload);
    const got = await nextMessage(client, 10_000);
    expect(Buffer.compare(got.data as Buffer, payload)).toBe(0);
  });

  it("decrypts an encrypted key with its passphrase", async () => {
    const server = await startEchoServer(defer, { tls: { cert: certPath, key: encryptedKeyPath, passphrase: "s3cret" } });
    const client = await openTracked(defer, wssUrl(server.port), { ca: readFileSync(certPath) });
    client.send("secret key");
    expect((await nextMessage(client)).data.toString()).toBe("secret key");
  });

  it("a client that does not trust the certificate fails the handshake; the server keeps serving", async () => {
    const server = await startEchoServer(defer, { tls: { cert: certPath, key: keyPath } });
    const untrusting = new WebSocket(wssUrl(server.port));
    const err = await withTimeout(
      new Promise<Error>((resolve) => untrusting.once("error", resolve)),
      5000,
      "the TLS verification error",
    );
    expect(err.message).toMatch(/self[- ]signed|certificate/i);
    const client = await openTracked(defer, wssUrl(server.port), { ca: readFileSync(certPath) });
    client.send("still here");
    expect((await nextMessage(client)).data.toString()).toBe("still here");
  });
});

describe("bad TLS options fail createServer with a clear, typed error", () => {
  async function rejection(tls: unknown): Promise<TlsConfigError | TypeError> {
    const err = await createServer({ port: 0, tls: tls as never }).then(
      () => {
        throw new Error("createServer resolved");
      },
      (e: unknown) => e as TlsConfigError,
    );
    return err;
  }

  it("a missing file: ERR_TLS_FILE naming the path", async () => {
    const err = await rejection({ cert: certPath, key: join(dir, "missing.pem") });
    expect(err).toBeInstanceOf(TlsConfigError);
    expect((err as TlsConfigError).code).toBe("ERR_TLS_FILE");
    expect(err.message).toContain("missing.pem");
  });

  it("a certificate that is not PEM: ERR_TLS_CERT", async () => {
    const err = await rejection({ cert: "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n", key: keyPath });
    expect((err as TlsConfigError).code).toBe("ERR_TLS_CERT");
  });

  it("a wrong passphrase: ERR_TLS_KEY", async () => {
    const err = await rejection({ cert: certPath, key: encryptedKeyPath, passphrase: "wrong" });
    expect((err as TlsConfigError).code).toBe("ERR_TLS_KEY");
  });

  it("a key of another certificate: ERR_TLS_KEY_MISMATCH", async () => {
    const err = await rejection({ cert: certPath, key: otherKeyPem });
    expect((err as TlsConfigError).code).toBe("ERR_TLS_KEY_MISMATCH");
  });

  it("no key at all: TypeError ERR_INVALID_ARG_TYPE", async () => {
    const err = await rejection({ cert: certPath });
    expect(err).toBeInstanceOf(TypeError);
    expect((err as TypeError & { code: string }).code).toBe("ERR_INVALID_ARG_TYPE");
  });

  it("a key file containing garbage: ERR_TLS_KEY", async () => {
    const garbage = join(dir, "garbage.pem");
    writeFileSync(garbage, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    const err = await rejection({ cert: certPath, key: garbage });
    expect((err as TlsConfigError).code).toBe("ERR_TLS_KEY");
  });
});
