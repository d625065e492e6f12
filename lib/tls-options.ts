// The `tls` option of createServer: PEM text, Buffers or file paths, checked with Node's own
// crypto before the I/O thread sees them, so a bad certificate fails createServer with a
// clear error instead of a server that never accepts a handshake.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { invalidType } from "./errors.js";

/** Certificate and key for `wss://`. */
export interface TlsOptions {
  /** The certificate: PEM text, a Buffer of PEM, or a path to a PEM file. Only its first (leaf) certificate is served. */
  cert: string | Buffer;
  /** Its private key: PEM text, a Buffer of PEM, or a path to a PEM file. */
  key: string | Buffer;
  /** Passphrase of an encrypted key (the key is decrypted here; the native side never sees the passphrase). */
  passphrase?: string;
}

/** A `tls` option that cannot be used: `code` says which part and why. */
export class TlsConfigError extends Error {
  /** `ERR_TLS_FILE`: a path could not be read; `ERR_TLS_CERT` / `ERR_TLS_KEY`: not a usable PEM certificate / key (or wrong passphrase); `ERR_TLS_KEY_MISMATCH`: the key does not belong to the certificate. */
  readonly code: "ERR_TLS_CERT" | "ERR_TLS_KEY" | "ERR_TLS_KEY_MISMATCH" | "ERR_TLS_FILE";
  constructor(code: TlsConfigError["code"], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TlsConfigError";
    this.code = code;
  }
}

async function pem(name: "cert" | "key", value: unknown): Promise<string> {
  if (Buffer.isBuffer(value)) return value.toString("utf8");
  if (typeof value !== "string" || value === "") throw invalidType(`tls.${name}`, "PEM text, a Buffer or a file path", value);
  if (value.includes("-----BEGIN")) return value;
  try {
    return await readFile(value, "utf8");
  } catch (err) {
    throw new TlsConfigError("ERR_TLS_FILE", `tls.${name}: cannot read ${value}: ${(err as Error).message}`, { cause: err });
  }
}

/** Validates `tls` and returns the leaf certificate and the unencrypted key as PEM. */
export async function resolveTls(tls: unknown): Promise<{ cert: string; key: string }> {
  if (tls === null || typeof tls !== "object") throw invalidType("tls", "an object with cert and key", tls);
  const { cert, key, passphrase } = tls as TlsOptions;
  if (passphrase !== undefined && typeof passphrase !== "string") throw invalidType("tls.passphrase", "a string", passphrase);
  const certPem = await pem("cert", cert);
  const keyPem = await pem("key", key);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch (err) {
    throw new TlsConfigError("ERR_TLS_CERT", `tls.cert is not a usable PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  let privateKey;
  try {
    privateKey = createPrivateKey({ key: keyPem, format: "pem", passphrase });
  } catch (err) {
    throw new TlsConfigError("ERR_TLS_KEY", `tls.key is not a usable PEM private key: ${(err as Error).message}`, { cause: err });
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new TlsConfigError("ERR_TLS_KEY_MISMATCH", "tls.key does not belong to tls.cert");
  }
  return { cert: x509.toString(), key: privateKey.export({ format: "pem", type: "pkcs8" }).toString() };
}
