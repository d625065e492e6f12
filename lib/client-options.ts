// connect() options and URLs: their types, defaults and validation.
import { invalidType, outOfRange } from "./errors.js";
import {
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_MAX_PAYLOAD_LENGTH,
} from "./defaults.js";
import type { NativeConnectOptions } from "./native.js";
import { resolveReconnect, type ReconnectOptions, type ReconnectPolicy } from "./reconnect.js";
import { HTTP_TOKEN, integer, rejectUnknownOptions } from "./option-checks.js";
import { certificates, rejectUnknownKeys, resolveProtocol, type TlsProtocolOptions, unlockKey } from "./tls-options.js";

/** TLS settings of a `wss://` connection. */
export interface ClientTlsOptions extends TlsProtocolOptions {
  /**
   * CA certificates (PEM text or Buffer, one or a bundle) to trust besides the system's store,
   * e.g. the one that signed a test server's certificate.
   */
  ca?: string | Buffer;
  /** Verify the server's certificate chain and host name. Default true; false accepts anything. */
  rejectUnauthorized?: boolean;
  /** A client certificate to present (mutual TLS): PEM text or a Buffer (its leaf is sent). Needs `key`. */
  cert?: string | Buffer;
  /** The client certificate's private key: PEM text or a Buffer. */
  key?: string | Buffer;
  /** Passphrase of an encrypted `key` (decrypted here; the native side never sees it). */
  passphrase?: string;
  /**
   * The name sent in TLS SNI and checked against the server's certificate, instead of the
   * URL's host name (which stays in the `Host` header). Default: the URL's host name.
   */
  servername?: string;
}

const CLIENT_TLS_KEYS = ["ca", "rejectUnauthorized", "cert", "key", "passphrase", "servername", "minVersion", "ciphers", "ciphersuites"] as const;
const SERVERNAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/;

/** Options of {@link connect}. Every field is optional. */
export interface ConnectOptions {
  /** Subprotocols to offer (`Sec-WebSocket-Protocol`), most preferred first. Default: none. */
  protocols?: string | string[];
  /** Extra handshake request headers. Names must be HTTP tokens; values must not contain CR, LF or NUL. */
  headers?: Record<string, string>;
  /** The `Origin` header. Default: none. */
  origin?: string;
  /** For `wss://`. */
  tls?: ClientTlsOptions;
  /** Largest message accepted, in bytes, after reassembly; a bigger one closes the connection with 1009. Default 16 MiB. */
  maxPayloadLength?: number;
  /**
   * Offer permessage-deflate (RFC 7692). If the server accepts, messages it compresses are
   * inflated on the I/O thread, and messages the client sends of at least 1 KiB are compressed
   * there (each on its own; `send(data, isBinary, false)` skips it for one message), unless the
   * server limits the client's window below 15 bits (then they go uncompressed, as the
   * extension allows). Default false.
   */
  perMessageDeflate?: boolean;
  /** Milliseconds from connecting to a completed opening handshake (TCP, TLS, HTTP upgrade). Default 10000. */
  handshakeTimeout?: number;
  /** Milliseconds `close()` waits for the server's close frame before dropping the connection. Default 5000. */
  closeTimeout?: number;
  /**
   * Retry failed connects (refused, network, timeout, HTTP 5xx, DNS `EAI_AGAIN`; never TLS,
   * handshake or 4xx failures) and reopen dropped connections (closed with 1001, 1006,
   * 1011-1014, and not by `close()`/`terminate()`). Default: none.
   */
  reconnect?: ReconnectOptions;
  /**
   * Stops the connection when aborted: while connecting, `connect()` rejects with a
   * `ConnectError` (`reason: "aborted"`, `code: "EABORTED"`, the signal's reason as `cause`);
   * while waiting to reconnect, the wait ends (`reconnectFailed`, the same error); once open,
   * the connection is closed with 1000 and never reconnects.
   */
  signal?: AbortSignal;
  /**
   * An HTTP proxy to tunnel through with `CONNECT host:port` (then TLS, for `wss://`, end to end
   * with the server): `"http://proxy.example:3128"`, or `true` to follow the environment's
   * convention: `https_proxy` (or `HTTPS_PROXY`) for `wss://`, `http_proxy` (`HTTP_PROXY`) for
   * `ws://`, none for hosts that `no_proxy` (`NO_PROXY`) lists (comma-separated names, matching
   * the name and its subdomains; `*` for all). Default: none, whatever the environment says.
   * The proxy resolves the server's name. No proxy authentication.
   */
  proxy?: string | URL | boolean;
  /**
   * Keepalive: ms of silence (nothing received: no message, ping or pong) after which the
   * client pings the server. 0 (default) sends no pings of its own.
   */
  pingInterval?: number;
  /**
   * With `pingInterval`: ms to wait for anything from the server after that ping; if nothing
   * comes, the connection is taken as dead (half-open) and dropped: `close` with 1006, and a
   * `reconnect` client reopens it. Default: `pingInterval`.
   */
  pongTimeout?: number;
}

/** An HTTP proxy, parsed. */
export interface ProxyTarget {
  hostname: string;
  port: number;
}

/**
 * The proxy to use for `target` under the `proxy` option (reading the environment for `true`).
 * Throws `ERR_OUT_OF_RANGE` for a proxy that is not an `http://host:port` URL.
 */
export function resolveProxy(option: ResolvedConnectOptions["proxy"], target: Target): ProxyTarget | undefined {
  if (option === undefined) return undefined;
  let url: string | undefined;
  if (option === "env") {
    const env = process.env;
    url = target.tls ? env.https_proxy || env.HTTPS_PROXY : env.http_proxy || env.HTTP_PROXY;
    if (!url || bypassed(env.no_proxy ?? env.NO_PROXY ?? "", target.hostname)) return undefined;
  } else {
    url = option;
  }
  let parsed: URL;
  try {
    parsed = new URL(url.includes("://") ? url : `http://${url}`);
  } catch {
    throw outOfRange("proxy", "an http://host:port URL", url);
  }
  if (parsed.protocol !== "http:" || parsed.username !== "" || parsed.hostname === "") {
    throw outOfRange("proxy", "an http://host:port URL without credentials", url);
  }
  const hostname = parsed.hostname.startsWith("[") ? parsed.hostname.slice(1, -1) : parsed.hostname;
  return { hostname, port: parsed.port === "" ? 80 : Number(parsed.port) };
}

function bypassed(noProxy: string, hostname: string): boolean {
  const host = hostname.toLowerCase();
  return noProxy
    .split(",")
    .map((e) => e.trim().toLowerCase().replace(/^\*?\./, ""))
    .some((e) => e === "*" || (e !== "" && (host === e || host.endsWith(`.${e}`))));
}

/** The settings that pass to the I/O thread unchanged (as `native.connect()` takes them, documented there). */
type NativeClientSettings = Pick<
  NativeConnectOptions,
  "headers" | "origin" | "ca" | "rejectUnauthorized" | "cert" | "key" | "servername" | "minVersion" | "ciphers" | "ciphersuites" | "perMessageDeflate" | "maxPayloadLength"
>;

/** Options after validation, with defaults applied. */
export interface ResolvedConnectOptions extends NativeClientSettings {
  protocols: string[];
  handshakeTimeout: number;
  closeTimeout: number;
  reconnect: ReconnectPolicy;
  signal: AbortSignal | undefined;
  /** An explicit proxy URL, "env" for the environment's, or undefined. */
  proxy: string | "env" | undefined;
  pingInterval: number;
  pongTimeout: number;
}


const KNOWN = new Set(["protocols", "headers", "origin", "tls", "maxPayloadLength", "perMessageDeflate", "handshakeTimeout", "closeTimeout", "reconnect", "signal", "proxy", "pingInterval", "pongTimeout"]);
const UNSAFE_VALUE = /[\r\n\0]/;
// Set by the client itself; a user value would contradict the handshake.
const RESERVED = new Set(["host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol", "sec-websocket-extensions", "origin"]);

/** Validates subprotocols as WHATWG does: tokens, no duplicates. Returns the message of the problem, if any. */
export function protocolProblem(protocols: string[]): string | undefined {
  const seen = new Set<string>();
  for (const p of protocols) {
    if (typeof p !== "string" || !HTTP_TOKEN.test(p)) return `invalid subprotocol ${JSON.stringify(p)}`;
    if (seen.has(p)) return `duplicate subprotocol ${JSON.stringify(p)}`;
    seen.add(p);
  }
  return undefined;
}

/** Checks every option, throwing `TypeError`/`RangeError` (Node-style `code`) or `TlsConfigError`. */
export function resolveConnectOptions(options: ConnectOptions): ResolvedConnectOptions {
  if (options === null || typeof options !== "object") throw invalidType("options", "an object", options);
  rejectUnknownOptions(options, KNOWN);
  const raw = options.protocols ?? [];
  const protocols = typeof raw === "string" ? [raw] : raw;
  if (!Array.isArray(protocols)) throw invalidType("protocols", "a string or an array of strings", raw);
  const problem = protocolProblem(protocols);
  if (problem) throw outOfRange("protocols", "distinct HTTP tokens", problem);

  const headers: string[] = [];
  if (options.headers !== undefined) {
    if (options.headers === null || typeof options.headers !== "object") throw invalidType("headers", "an object", options.headers);
    for (const [name, value] of Object.entries(options.headers)) {
      if (!HTTP_TOKEN.test(name)) throw outOfRange("headers", "HTTP token names", name);
      if (RESERVED.has(name.toLowerCase())) throw outOfRange("headers", "headers the client does not set itself", name);
      if (typeof value !== "string") throw invalidType(`headers.${name}`, "a string", value);
      if (UNSAFE_VALUE.test(value)) throw outOfRange(`headers.${name}`, "a value without CR, LF or NUL", value);
      headers.push(name, value);
    }
  }
  const origin = options.origin ?? "";
  if (typeof origin !== "string") throw invalidType("origin", "a string", origin);
  if (UNSAFE_VALUE.test(origin)) throw outOfRange("origin", "a value without CR, LF or NUL", origin);

  let ca = "";
  let rejectUnauthorized = true;
  let cert = "";
  let key = "";
  let servername = "";
  let protocol = { minVersion: 0x0303, ciphers: "", ciphersuites: "" };
  if (options.tls !== undefined) {
    const tls = options.tls;
    if (tls === null || typeof tls !== "object") throw invalidType("tls", "an object", tls);
    rejectUnknownKeys("tls", tls, CLIENT_TLS_KEYS);
    protocol = resolveProtocol("tls", tls);
    if (tls.servername !== undefined) {
      if (typeof tls.servername !== "string" || !SERVERNAME.test(tls.servername) || tls.servername.length > 253) {
        throw invalidType("tls.servername", "a DNS host name", tls.servername);
      }
      servername = tls.servername;
    }
    if ((tls.cert === undefined) !== (tls.key === undefined)) throw invalidType(tls.cert === undefined ? "tls.cert" : "tls.key", "given together with tls.key / tls.cert", undefined);
    if (tls.cert !== undefined) {
      const text = (name: string, v: unknown): string => {
        if (Buffer.isBuffer(v)) return v.toString("utf8");
        if (typeof v !== "string") throw invalidType(name, "PEM text or a Buffer", v);
        return v;
      };
      const leaf = certificates("tls.cert", text("tls.cert", tls.cert))[0]!;
      key = unlockKey("tls.key", text("tls.key", tls.key), tls.passphrase, leaf, "tls.cert");
      cert = leaf.toString();
    } else if (tls.passphrase !== undefined) {
      throw invalidType("tls.passphrase", "given only with tls.key", tls.passphrase);
    }
    if (tls.rejectUnauthorized !== undefined && typeof tls.rejectUnauthorized !== "boolean") {
      throw invalidType("tls.rejectUnauthorized", "a boolean", tls.rejectUnauthorized);
    }
    rejectUnauthorized = tls.rejectUnauthorized ?? true;
    if (tls.ca !== undefined) {
      const pem = Buffer.isBuffer(tls.ca) ? tls.ca.toString("utf8") : tls.ca;
      if (typeof pem !== "string") throw invalidType("tls.ca", "PEM text or a Buffer", tls.ca);
      ca = certificates("tls.ca", pem).map((c) => c.toString()).join("");
    }
  }
  if (options.perMessageDeflate !== undefined && typeof options.perMessageDeflate !== "boolean") {
    throw invalidType("perMessageDeflate", "a boolean", options.perMessageDeflate);
  }
  const reconnect = resolveReconnect(options.reconnect);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw invalidType("signal", "an AbortSignal", options.signal);
  let proxy: string | "env" | undefined;
  if (options.proxy === true) proxy = "env";
  else if (typeof options.proxy === "string" || options.proxy instanceof URL) proxy = String(options.proxy);
  else if (options.proxy !== undefined && options.proxy !== false) throw invalidType("proxy", "a URL or a boolean", options.proxy);
  const pingInterval = integer("pingInterval", options.pingInterval, 0, 0, 2 ** 31 - 1);
  return {
    reconnect,
    proxy,
    pingInterval,
    pongTimeout: integer("pongTimeout", options.pongTimeout, Math.max(1, pingInterval), 1, 2 ** 31 - 1),
    signal: options.signal,
    protocols,
    headers,
    origin,
    ca,
    rejectUnauthorized,
    cert,
    key,
    servername,
    ...protocol,
    perMessageDeflate: options.perMessageDeflate ?? false,
    maxPayloadLength: integer("maxPayloadLength", options.maxPayloadLength, DEFAULT_MAX_PAYLOAD_LENGTH, 1, 2 ** 32 - 1),
    handshakeTimeout: integer("handshakeTimeout", options.handshakeTimeout, DEFAULT_HANDSHAKE_TIMEOUT, 1, 2 ** 31 - 1),
    closeTimeout: integer("closeTimeout", options.closeTimeout, DEFAULT_CLOSE_TIMEOUT, 0, 2 ** 31 - 1),
  };
}

/** A parsed ws:// or wss:// URL (http:// and https:// are taken as ws:// and wss://, as WHATWG does). */
export interface Target {
  url: string;
  tls: boolean;
  /** Host name or address without IPv6 brackets. */
  hostname: string;
  port: number;
  /** Host header: host, with the port unless it is the scheme's default. */
  host: string;
  path: string;
  /** `ws+unix:` URLs: the Unix domain socket to connect to (`hostname` is then "localhost"). */
  socketPath?: string;
}

/** Parses `input`; returns a message instead when it is not a usable WebSocket URL. */
export function parseTarget(input: unknown): Target | string {
  let url: URL;
  try {
    url = new URL(String(input));
  } catch {
    return `invalid URL ${JSON.stringify(String(input))}`;
  }
  if (url.protocol === "ws+unix:" || url.protocol === "wss+unix:") {
    // As `ws` spells them: ws+unix:///path/to/socket:/request/path?query
    const tls = url.protocol === "wss+unix:";
    const pathname = decodeURIComponent(url.pathname);
    const colon = pathname.indexOf(":");
    const socketPath = colon < 0 ? pathname : pathname.slice(0, colon);
    const path = colon < 0 ? "/" : pathname.slice(colon + 1) || "/";
    if (socketPath === "" || !path.startsWith("/")) return `invalid ws+unix URL ${JSON.stringify(String(input))}: expected ws+unix:///socket/path:/request/path`;
    if (url.hash !== "") return "a WebSocket URL must not have a fragment";
    return { url: url.href, tls, hostname: "localhost", port: 0, host: "localhost", path: path + url.search, socketPath };
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  if (url.protocol !== "ws:" && url.protocol !== "wss:") return `the URL scheme must be ws:, wss: or ws+unix:, not ${url.protocol}`;
  if (url.hash !== "") return "a WebSocket URL must not have a fragment";
  const tls = url.protocol === "wss:";
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  return {
    url: url.href,
    tls,
    hostname,
    port: url.port === "" ? (tls ? 443 : 80) : Number(url.port),
    host: url.host,
    path: (url.pathname || "/") + url.search,
  };
}
