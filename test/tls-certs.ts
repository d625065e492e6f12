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

export function makeCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), "lwsnode-ca-"));
  try {
    const openssl = (...args: string[]): void => {
      execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
    };
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=lwsnode test CA");
    openssl("req", ...ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost");
    writeFileSync(join(dir, "ext.cnf"), "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n");
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.crt", "-days", "2", "-extfile", "ext.cnf");
    const read = (name: string): string => readFileSync(join(dir, name), "utf8");
    return { ca: read("ca.crt"), cert: read("leaf.crt"), key: read("leaf.key") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
