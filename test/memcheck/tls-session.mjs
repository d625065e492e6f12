// The wss:// part of the memcheck session: a mutual-TLS server (client CA, peer certificate
// read natively for the upgrade hook and the socket), our client presenting a certificate
// with a servername and TLS 1.3 suites, a refused client certificate, a refused server
// certificate (the TLS error path), and a certificate reload (setTls, with an SNI entry) while
// a connection stays up. Certificates come from the openssl CLI, as in test/tls-certs.ts.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer } from "../../dist/index.js";

function makeCerts() {
  const dir = mkdtempSync(join(tmpdir(), "lwsnode-memcheck-tls-"));
  try {
    const openssl = (...args) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
    const read = (name) => readFileSync(join(dir, name), "utf8");
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=memcheck CA");
    writeFileSync(join(dir, "server.ext"), "subjectAltName=DNS:localhost,DNS:alt.test\n");
    writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
    const issue = (name, cn, ext) => {
      openssl("req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`);
      openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.crt`, "-days", "2", "-extfile", ext);
      return { cert: read(`${name}.crt`), key: read(`${name}.key`) };
    };
    const server = issue("server", "localhost", "server.ext");
    const renewed = issue("renewed", "renewed", "server.ext");
    const alice = issue("alice", "alice", "client.ext");
    openssl("req", "-x509", ...ec, "-keyout", "self.key", "-out", "self.crt", "-days", "2", "-subj", "/CN=self");
    return { ca: read("ca.crt"), server, renewed, alice, self: { cert: read("self.crt"), key: read("self.key") } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function echo(ws, text) {
  const got = new Promise((resolve) => ws.once("message", (d) => resolve(d.toString())));
  ws.send(text);
  if ((await got) !== text) throw new Error(`tls: wrong echo of ${text}`);
}

export async function tlsRound() {
  const pki = makeCerts();
  const seen = [];
  const server = await createServer({
    port: 0,
    host: "127.0.0.1",
    tls: { ...pki.server, ca: pki.ca, requestCert: true, minVersion: "TLSv1.2", ciphersuites: "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256" },
    upgrade(req) {
      seen.push(req.peerCertificate?.subject);
    },
    open(ws) {
      seen.push(ws.peerCertificate?.subject);
    },
    message(ws, data, isBinary) {
      ws.send(data, isBinary);
    },
  });
  const url = `wss://127.0.0.1:${server.port}/`;
  const tls = { ca: pki.ca, cert: pki.alice.cert, key: pki.alice.key, servername: "localhost", ciphersuites: "TLS_CHACHA20_POLY1305_SHA256" };
  const alice = await connect(url, { tls });
  await echo(alice, "mtls");
  if (seen.length !== 2 || !seen.every((s) => s?.includes("CN=alice"))) throw new Error(`tls: peer certificate not seen: ${seen}`);
  // No client certificate: the server refuses the handshake.
  await connect(url, { tls: { ca: pki.ca, servername: "localhost" } }).then(
    () => { throw new Error("tls: expected a refused client"); },
    (err) => { if (err.reason !== "tls" && err.reason !== "network") throw err; },
  );
  // The certificate is renewed; an SNI entry appears; alice's connection stays up.
  await server.setTls({ ...pki.renewed, ca: pki.ca, requestCert: true, sni: { "alt.test": pki.server } });
  const bob = await connect(url, { tls: { ...tls, servername: "alt.test" } });
  await echo(bob, "renewed");
  await echo(alice, "still up");
  // An untrusted server certificate: the client's TLS error path.
  const selfSigned = await createServer({ port: 0, host: "127.0.0.1", tls: pki.self });
  await connect(`wss://localhost:${selfSigned.port}/`).then(
    () => { throw new Error("tls: expected an untrusted certificate"); },
    (err) => { if (err.code !== "DEPTH_ZERO_SELF_SIGNED_CERT") throw err; },
  );
  await selfSigned.close();
  const closes = [alice, bob].map((ws) => new Promise((resolve) => ws.once("close", resolve)));
  await server.close();
  await Promise.all(closes);
}
