// The `tls` option of createServer: PEM text, Buffers or file paths, checked with Node's own
// crypto before the I/O thread sees them, so a bad certificate fails createServer with a
// clear error instead of a server that never accepts a handshake.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { invalidType } from "./errors.js";

/** A certificate and its key. */
export interface TlsIdentity {
  /**
   * The certificate: PEM text, a Buffer of PEM, or a path to a PEM file. The first
   * certificate is the server's; any that follow (its intermediates) are sent after it.
   */
  cert: string | Buffer;
  /** Its private key: PEM text, a Buffer of PEM, or a path to a PEM file. */
  key: string | Buffer;
  /** Passphrase of an encrypted key (the key is decrypted here; the native side never sees the passphrase). */
  passphrase?: string;
  /**
   * More chain certificates (intermediate CAs) to send after the certificate, as PEM text,
   * Buffers or file paths; what a client needs between your certificate and a root it trusts.
   */
  ca?: string | Buffer | Array<string | Buffer>;
}

/** Certificate and key for `wss://`, and optionally other certificates chosen by host name. */
export interface TlsOptions extends TlsIdentity {
  /**
   * Certificates by the host name a client asks for (TLS SNI): exact names such as
   * `"api.example.com"` or one-label wildcards such as `"*.example.com"` (exact names win).
   * Clients that ask for another name, or none, get the main certificate.
   */
  sni?: Record<string, TlsIdentity>;
}

/** What the native side loads: the main certificate's leaf and key, its chain, the SNI identities. */
export interface ResolvedTls {
  cert: string;
  key: string;
  chain: string;
  sni: { name: string; cert: string; key: string }[];
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

async function pem(name: string, value: unknown): Promise<string> {
  if (Buffer.isBuffer(value)) return value.toString("utf8");
  if (typeof value !== "string" || value === "") throw invalidType(name, "PEM text, a Buffer or a file path", value);
  if (value.includes("-----BEGIN")) return value;
  try {
    return await readFile(value, "utf8");
  } catch (err) {
    throw new TlsConfigError("ERR_TLS_FILE", `${name}: cannot read ${value}: ${(err as Error).message}`, { cause: err });
  }
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every PEM certificate in `text`, checked; `name` (the option) is what errors cite. */
export function certificates(name: string, text: string): X509Certificate[] {
  const blocks = text.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) throw new TlsConfigError("ERR_TLS_CERT", `${name} holds no PEM certificate`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      const which = i === 0 ? name : `${name} (certificate ${i + 1})`;
      throw new TlsConfigError("ERR_TLS_CERT", `${which} is not a usable PEM certificate: ${(err as Error).message}`, { cause: err });
    }
  });
}

/** Checks one identity; returns its certificates (leaf first, then its chain) and its unencrypted key. */
async function resolveIdentity(name: string, value: unknown): Promise<{ certs: X509Certificate[]; key: string }> {
  if (value === null || typeof value !== "object") throw invalidType(name, "an object with cert and key", value);
  const { cert, key, passphrase, ca } = value as TlsIdentity;
  if (passphrase !== undefined && typeof passphrase !== "string") throw invalidType(`${name}.passphrase`, "a string", passphrase);
  const certs = certificates(`${name}.cert`, await pem(`${name}.cert`, cert));
  const keyPem = await pem(`${name}.key`, key);
  for (const [i, item] of (ca === undefined ? [] : Array.isArray(ca) ? ca : [ca]).entries()) {
    certs.push(...certificates(`${name}.ca[${i}]`, await pem(`${name}.ca[${i}]`, item)));
  }
  let privateKey;
  try {
    privateKey = createPrivateKey({ key: keyPem, format: "pem", passphrase });
  } catch (err) {
    throw new TlsConfigError("ERR_TLS_KEY", `${name}.key is not a usable PEM private key: ${(err as Error).message}`, { cause: err });
  }
  if (!certs[0]!.checkPrivateKey(privateKey)) {
    throw new TlsConfigError("ERR_TLS_KEY_MISMATCH", `${name}.key does not belong to ${name}.cert`);
  }
  return { certs, key: privateKey.export({ format: "pem", type: "pkcs8" }).toString() };
}

const SNI_NAME = /^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/;

/** Validates `tls` and returns what the native side loads. */
export async function resolveTls(tls: unknown): Promise<ResolvedTls> {
  const main = await resolveIdentity("tls", tls);
  const sniOption = (tls as TlsOptions).sni;
  const sni: ResolvedTls["sni"] = [];
  if (sniOption !== undefined) {
    if (sniOption === null || typeof sniOption !== "object") throw invalidType("tls.sni", "an object of host name → { cert, key }", sniOption);
    for (const [name, identity] of Object.entries(sniOption)) {
      if (!SNI_NAME.test(name) || name.length > 253) throw invalidType(`tls.sni key`, 'a host name such as "example.com" or "*.example.com"', name);
      const { certs, key } = await resolveIdentity(`tls.sni["${name}"]`, identity);
      sni.push({ name, cert: certs.map((c) => c.toString()).join(""), key });
    }
    sni.sort((a, b) => Number(a.name.startsWith("*.")) - Number(b.name.startsWith("*."))); // exact names first
  }
  return {
    cert: main.certs[0]!.toString(),
    key: main.key,
    chain: main.certs.slice(1).map((c) => c.toString()).join(""),
    sni,
  };
}
