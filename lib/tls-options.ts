// The `tls` option of createServer: PEM text, Buffers or file paths, checked with Node's own
// crypto before the I/O thread sees them, so a bad certificate fails createServer with a
// clear error instead of a server that never accepts a handshake.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createSecureContext, getCiphers } from "node:tls";
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
   * With `requestCert` (main identity only) they are also the CAs client certificates must
   * chain to, as with Node's `ca`.
   */
  ca?: string | Buffer | Array<string | Buffer>;
}

/** The lowest TLS version a side accepts (as Node's `minVersion`). */
export type TlsVersion = "TLSv1.2" | "TLSv1.3";

/** Protocol settings shared by servers and clients. */
export interface TlsProtocolOptions {
  /** Lowest TLS version accepted. Default `"TLSv1.2"`; `"TLSv1.3"` refuses TLS 1.2 peers. */
  minVersion?: TlsVersion;
  /**
   * TLS 1.2 cipher list in OpenSSL's format (e.g. `"ECDHE-ECDSA-AES128-GCM-SHA256"`).
   * Default: OpenSSL's. One that matches no cipher is refused with `ERR_TLS_CIPHERS`.
   */
  ciphers?: string;
  /** TLS 1.3 cipher suites, colon-separated (e.g. `"TLS_AES_256_GCM_SHA384"`). Default: OpenSSL's. */
  ciphersuites?: string;
}

/** Certificate and key for `wss://`, and optionally other certificates chosen by host name. */
export interface TlsOptions extends TlsIdentity, TlsProtocolOptions {
  /**
   * Certificates by the host name a client asks for (TLS SNI): exact names such as
   * `"api.example.com"` or one-label wildcards such as `"*.example.com"` (exact names win).
   * Clients that ask for another name, or none, get the main certificate.
   */
  sni?: Record<string, TlsIdentity>;
  /**
   * Mutual TLS: ask every client for a certificate, verified against the certificates in
   * `ca` (which are then trusted for client certificates as well as sent as the chain, as in
   * Node). The certificate is on `request.peerCertificate` in the upgrade hook and on
   * `ws.peerCertificate`. Default false.
   */
  requestCert?: boolean;
  /**
   * With `requestCert`: refuse the TLS handshake of a client without a certificate `ca`
   * vouches for. Default true; false lets it in with `peerCertificate.authorized === false`
   * (and no `peerCertificate` at all if it sent none).
   */
  rejectUnauthorized?: boolean;
}

/** What the native side loads: the main certificate's leaf and key, its chain, the SNI identities, the policy. */
export interface ResolvedTls {
  cert: string;
  key: string;
  chain: string;
  sni: { name: string; cert: string; key: string }[];
  /** PEM: trusted for client certificates (requestCert), else "". */
  clientCa: string;
  requestCert: boolean;
  rejectUnauthorized: boolean;
  /** 0x0303 (TLS 1.2) or 0x0304 (TLS 1.3). */
  minVersion: number;
  ciphers: string;
  ciphersuites: string;
}

/**
 * The certificate a peer presented (the common fields of Node's `tls.PeerCertificate`), read
 * on the I/O thread when the TLS handshake completed.
 */
export interface PeerCertificate {
  /** Subject distinguished name, one `KEY=value` per line (as `X509Certificate.subject`). */
  readonly subject: string;
  /** Issuer distinguished name, one `KEY=value` per line. */
  readonly issuer: string;
  /** Subject alternative names, e.g. `"DNS:client.example, IP Address:127.0.0.1"`, or undefined. */
  readonly subjectaltname: string | undefined;
  /** Validity start, as OpenSSL prints it (e.g. `"Nov 29 15:00:00 2026 GMT"`). */
  readonly valid_from: string;
  /** Validity end, in the same form as `valid_from`. */
  readonly valid_to: string;
  /** SHA-256 fingerprint, colon-separated hex (`"AB:CD:…"`). */
  readonly fingerprint256: string;
  /** Serial number, upper-case hex. */
  readonly serialNumber: string;
  /** The DER encoding. */
  readonly raw: Buffer;
  /** Whether the chain verified against the server's `ca` (always true when `rejectUnauthorized`). */
  readonly authorized: boolean;
  /** Why not, as Node names it (`"UNABLE_TO_VERIFY_LEAF_SIGNATURE"`, `"CERT_HAS_EXPIRED"`, …), when not authorized. */
  readonly authorizationError: string | undefined;
  /** The certificate as Node's `X509Certificate`, for anything else (`toString()` gives PEM). */
  readonly x509: X509Certificate;
}

/** A `tls` option that cannot be used: `code` says which part and why. */
export class TlsConfigError extends Error {
  /**
   * `ERR_TLS_FILE`: a path could not be read; `ERR_TLS_CERT` / `ERR_TLS_KEY`: not a usable PEM
   * certificate / key (or wrong passphrase); `ERR_TLS_KEY_MISMATCH`: the key does not belong to
   * the certificate; `ERR_TLS_CIPHERS`: `ciphers`/`ciphersuites` name no cipher OpenSSL knows;
   * `ERR_TLS_UNKNOWN_OPTION`: a key of `tls` that is not supported (the message lists those that are).
   */
  readonly code: "ERR_TLS_CERT" | "ERR_TLS_KEY" | "ERR_TLS_KEY_MISMATCH" | "ERR_TLS_FILE" | "ERR_TLS_CIPHERS" | "ERR_TLS_UNKNOWN_OPTION";
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

/** Throws `ERR_TLS_UNKNOWN_OPTION` for a key of `value` (the option `name`) not in `known`. */
export function rejectUnknownKeys(name: string, value: object, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new TlsConfigError("ERR_TLS_UNKNOWN_OPTION", `${name}.${key} is not a supported option; ${name} accepts ${known.join(", ")}`);
    }
  }
}

const IDENTITY_KEYS = ["cert", "key", "passphrase", "ca"] as const;
const SERVER_KEYS = [...IDENTITY_KEYS, "sni", "requestCert", "rejectUnauthorized", "minVersion", "ciphers", "ciphersuites"] as const;

/** `key` decrypted with `passphrase` and checked against `leaf`; returns it as unencrypted PKCS#8 PEM. */
export function unlockKey(name: string, keyPem: string, passphrase: unknown, leaf: X509Certificate, certName: string): string {
  if (passphrase !== undefined && typeof passphrase !== "string") throw invalidType(`${name.replace(/\.key$/, "")}.passphrase`, "a string", passphrase);
  let privateKey;
  try {
    privateKey = createPrivateKey({ key: keyPem, format: "pem", passphrase });
  } catch (err) {
    throw new TlsConfigError("ERR_TLS_KEY", `${name} is not a usable PEM private key: ${(err as Error).message}`, { cause: err });
  }
  if (!leaf.checkPrivateKey(privateKey)) throw new TlsConfigError("ERR_TLS_KEY_MISMATCH", `${name} does not belong to ${certName}`);
  return privateKey.export({ format: "pem", type: "pkcs8" }).toString();
}

/** Checks one identity; returns its certificates (leaf first, then its chain) and its unencrypted key. */
async function resolveIdentity(name: string, value: unknown): Promise<{ certs: X509Certificate[]; key: string; ca: X509Certificate[] }> {
  if (value === null || typeof value !== "object") throw invalidType(name, "an object with cert and key", value);
  const { cert, key, passphrase, ca } = value as TlsIdentity;
  const certs = certificates(`${name}.cert`, await pem(`${name}.cert`, cert));
  const keyPem = await pem(`${name}.key`, key);
  const extra: X509Certificate[] = [];
  for (const [i, item] of (ca === undefined ? [] : Array.isArray(ca) ? ca : [ca]).entries()) {
    extra.push(...certificates(`${name}.ca[${i}]`, await pem(`${name}.ca[${i}]`, item)));
  }
  const unlocked = unlockKey(`${name}.key`, keyPem, passphrase, certs[0]!, `${name}.cert`);
  return { certs: [...certs, ...extra], key: unlocked, ca: extra };
}

const SNI_NAME = /^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/;

/** The protocol settings of `tls` (`name`: the option, for errors), checked. */
export function resolveProtocol(name: string, tls: TlsProtocolOptions): { minVersion: number; ciphers: string; ciphersuites: string } {
  const { minVersion = "TLSv1.2", ciphers = "", ciphersuites = "" } = tls;
  if (minVersion !== "TLSv1.2" && minVersion !== "TLSv1.3") throw invalidType(`${name}.minVersion`, '"TLSv1.2" or "TLSv1.3"', minVersion);
  if (typeof ciphers !== "string") throw invalidType(`${name}.ciphers`, "an OpenSSL cipher list", ciphers);
  if (typeof ciphersuites !== "string") throw invalidType(`${name}.ciphersuites`, "a colon-separated list of TLS 1.3 suites", ciphersuites);
  if (ciphers !== "") {
    try {
      // Node's own OpenSSL is the one the I/O thread uses: a list it refuses would be refused there.
      createSecureContext({ ciphers });
    } catch (err) {
      throw new TlsConfigError("ERR_TLS_CIPHERS", `${name}.ciphers matches no cipher: ${JSON.stringify(ciphers)}`, { cause: err });
    }
  }
  if (ciphersuites !== "") {
    const known = new Set(getCiphers());
    for (const suite of ciphersuites.split(":")) {
      if (!suite.startsWith("TLS_") || !known.has(suite.toLowerCase())) {
        throw new TlsConfigError("ERR_TLS_CIPHERS", `${name}.ciphersuites: ${JSON.stringify(suite)} is not a TLS 1.3 cipher suite`);
      }
    }
  }
  return { minVersion: minVersion === "TLSv1.3" ? 0x0304 : 0x0303, ciphers, ciphersuites };
}

function flag(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw invalidType(name, "a boolean", value);
  return value;
}

/** Validates `tls` (`name`: the option, for errors) and returns what the native side loads. */
export async function resolveTls(tls: unknown, name = "tls"): Promise<ResolvedTls> {
  if (tls === null || typeof tls !== "object") throw invalidType(name, "an object with cert and key", tls);
  rejectUnknownKeys(name, tls, SERVER_KEYS);
  const options = tls as TlsOptions;
  const main = await resolveIdentity(name, tls);
  const requestCert = flag(`${name}.requestCert`, options.requestCert, false);
  const rejectUnauthorized = flag(`${name}.rejectUnauthorized`, options.rejectUnauthorized, true);
  const protocol = resolveProtocol(name, options);
  const sniOption = options.sni;
  const sni: ResolvedTls["sni"] = [];
  if (sniOption !== undefined) {
    if (sniOption === null || typeof sniOption !== "object") throw invalidType(`${name}.sni`, "an object of host name → { cert, key }", sniOption);
    for (const [host, identity] of Object.entries(sniOption)) {
      if (!SNI_NAME.test(host) || host.length > 253) throw invalidType(`${name}.sni key`, 'a host name such as "example.com" or "*.example.com"', host);
      if (identity !== null && typeof identity === "object") rejectUnknownKeys(`${name}.sni["${host}"]`, identity, IDENTITY_KEYS);
      const { certs, key } = await resolveIdentity(`${name}.sni["${host}"]`, identity);
      sni.push({ name: host, cert: certs.map((c) => c.toString()).join(""), key });
    }
    sni.sort((a, b) => Number(a.name.startsWith("*.")) - Number(b.name.startsWith("*."))); // exact names first
  }
  return {
    cert: main.certs[0]!.toString(),
    key: main.key,
    chain: main.certs.slice(1).map((c) => c.toString()).join(""),
    sni,
    clientCa: requestCert ? main.ca.map((c) => c.toString()).join("") : "",
    requestCert,
    rejectUnauthorized,
    ...protocol,
  };
}

/** @internal Decodes a native PeerCert payload: Node's name of the verification error ("" if verified), "\n", the DER. */
export function decodePeerCertificate(bytes: Buffer): PeerCertificate | undefined {
  const nl = bytes.indexOf(10);
  if (nl < 0) return undefined;
  const verifyError = bytes.toString("latin1", 0, nl);
  const raw = Buffer.from(bytes.subarray(nl + 1)); // a copy: the event slab is reused
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(raw);
  } catch {
    return undefined;
  }
  return Object.freeze({
    subject: x509.subject,
    issuer: x509.issuer,
    subjectaltname: x509.subjectAltName,
    valid_from: x509.validFrom,
    valid_to: x509.validTo,
    fingerprint256: x509.fingerprint256,
    serialNumber: x509.serialNumber,
    raw,
    authorized: verifyError === "",
    authorizationError: verifyError === "" ? undefined : verifyError,
    x509,
  });
}
