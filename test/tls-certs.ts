// A throwaway CA and a localhost certificate it signed, made by the openssl CLI, for wss tests.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCa {
  /** The CA certificate (PEM): what a client must trust. */
  ca: string;
  /** A certificate for DNS:localhost (only) signed by the CA, and its key (PEM). */
  cert: string;
  key: string;
}

/** What a certificate maker gets: `openssl` run in a scratch directory, and `read` from it. */
interface Scratch {
  openssl(...args: string[]): void;
  read(name: string): string;
  write(name: string, text: string): void;
}

/** A fresh P-256 key, unencrypted: the `openssl req` arguments for it. */
const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Runs `make` in a fresh temporary directory, removed afterwards whatever happens. */
function inScratchDir<T>(prefix: string, make: (dir: Scratch) => T): T {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    return make({
      openssl: (...args) => void execFileSync("openssl", args, { cwd: dir, stdio: "ignore" }),
      read: (name) => readFileSync(join(dir, name), "utf8"),
      write: (name, text) => writeFileSync(join(dir, name), text),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function makeCa(): TestCa {
  return inScratchDir("lwsnode-ca-", ({ openssl, read, write }) => {
    openssl("req", "-x509", ...EC_KEY, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=lwsnode test CA");
    openssl("req", ...EC_KEY, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost");
    write("ext.cnf", "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n");
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.crt", "-days", "2", "-extfile", "ext.cnf");
    return { ca: read("ca.crt"), cert: read("leaf.crt"), key: read("leaf.key") };
  });
}

/** A certificate and its key (PEM). */
export interface TestIdentity {
  cert: string;
  key: string;
}

/** A self-signed certificate for CN=localhost (no subjectAltName) and its key. */
export function makeSelfSigned(): TestIdentity {
  return inScratchDir("lwsnode-self-", ({ openssl, read }) => {
    openssl("req", "-x509", ...EC_KEY, "-subj", "/CN=localhost", "-days", "2", "-keyout", "key.pem", "-out", "cert.pem");
    return { cert: read("cert.pem"), key: read("key.pem") };
  });
}

/** Everything the mutual-TLS and error tests need, signed by two throwaway CAs. */
export interface TestPki {
  /** The CA servers' certificates chain to (clients trust it). */
  serverCa: string;
  /** DNS:localhost and DNS:alt.test, signed by serverCa. */
  server: TestIdentity;
  /** Another server certificate (DNS:localhost, CN=renewed) signed by serverCa: a renewal. */
  renewed: TestIdentity;
  /** DNS:localhost, CN=rsa, an RSA key (the others are ECDSA), signed by serverCa. */
  rsa: TestIdentity;
  /** DNS:localhost, signed by serverCa, valid only in January 2020. */
  expired: TestIdentity;
  /** A self-signed DNS:localhost certificate (no CA). */
  selfSigned: TestIdentity;
  /** The CA client certificates chain to (servers trust it). */
  clientCa: string;
  /** CN=alice, signed by clientCa, for TLS client authentication. */
  alice: TestIdentity;
  /** CN=mallory, self-signed: a client certificate no server trusts. */
  mallory: TestIdentity;
  /** alice's key encrypted with the passphrase "s3cret". */
  aliceEncryptedKey: string;
}

export function makePki(): TestPki {
  return inScratchDir("lwsnode-pki-", ({ openssl, read, write }) => {
    const ec = EC_KEY;
    openssl("req", "-x509", ...ec, "-keyout", "sca.key", "-out", "sca.crt", "-days", "2", "-subj", "/CN=lwsnode server CA");
    openssl("req", "-x509", ...ec, "-keyout", "cca.key", "-out", "cca.crt", "-days", "2", "-subj", "/CN=lwsnode client CA");
    // `openssl ca` (not `x509 -req`) because only it sets arbitrary validity dates (the expired one).
    write("index.txt", "");
    write("serial", "1000\n");
    write(
      "ca.cnf",
      [
        "[ca]", "default_ca = d", "[d]", "database = index.txt", "new_certs_dir = .", "serial = serial",
        "default_md = sha256", "policy = p", "unique_subject = no", "[p]", "commonName = supplied",
        "[server]", "subjectAltName = DNS:localhost, DNS:alt.test", "basicConstraints = CA:FALSE", "extendedKeyUsage = serverAuth",
        "[client]", "basicConstraints = CA:FALSE", "extendedKeyUsage = clientAuth", "",
      ].join("\n"),
    );
    const issue = (name: string, cn: string, ca: string, ext: string, dates: string[], key = ec): TestIdentity => {
      openssl("req", ...key, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`);
      openssl("ca", "-batch", "-config", "ca.cnf", "-cert", `${ca}.crt`, "-keyfile", `${ca}.key`, "-in", `${name}.csr`, "-out", `${name}.crt`, "-extensions", ext, "-notext", ...dates);
      return { cert: read(`${name}.crt`), key: read(`${name}.key`) };
    };
    const twoDays = ["-days", "2"];
    const server = issue("server", "localhost", "sca", "server", twoDays);
    const renewed = issue("renewed", "renewed", "sca", "server", twoDays);
    const rsa = issue("rsa", "rsa", "sca", "server", twoDays, ["-newkey", "rsa:2048", "-nodes"]);
    const expired = issue("expired", "localhost", "sca", "server", ["-startdate", "20200101000000Z", "-enddate", "20200102000000Z"]);
    const alice = issue("alice", "alice", "cca", "client", twoDays);
    openssl("req", "-x509", ...ec, "-keyout", "self.key", "-out", "self.crt", "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost");
    openssl("req", "-x509", ...ec, "-keyout", "mallory.key", "-out", "mallory.crt", "-days", "2", "-subj", "/CN=mallory");
    openssl("pkcs8", "-topk8", "-in", "alice.key", "-out", "alice.enc.key", "-passout", "pass:s3cret", "-v2", "aes-256-cbc");
    return {
      serverCa: read("sca.crt"),
      server,
      renewed,
      rsa,
      expired,
      selfSigned: { cert: read("self.crt"), key: read("self.key") },
      clientCa: read("cca.crt"),
      alice,
      mallory: { cert: read("mallory.crt"), key: read("mallory.key") },
      aliceEncryptedKey: read("alice.enc.key"),
    };
  });
}
