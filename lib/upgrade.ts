// The upgrade hook, JS half: the request it sees, the answers it may give, and their checks.
import { STATUS_CODES, type IncomingMessage } from "node:http";
import { invalidType, outOfRange } from "./errors.js";
import type { PeerCertificate } from "./tls-options.js";

/** An upgrade request, as the `upgrade` handler sees it. */
export interface UpgradeRequest {
  /** Always `"GET"` for a WebSocket upgrade. */
  readonly method: string;
  /** Path and query string, e.g. `"/chat?room=1"`. */
  readonly url: string;
  /** `url` without the query string. */
  readonly path: string;
  /** Request headers by lower-case name; a repeated header's values are joined with commas. */
  readonly headers: Readonly<Record<string, string>>;
  /** The client's IP address. */
  readonly remoteAddress: string;
  /** The subprotocols the client offered (`Sec-WebSocket-Protocol`), in its order of preference. */
  readonly protocols: readonly string[];
  /**
   * With `server` or `noServer`: the `node:http` request that was handed over (its socket is
   * no longer usable), e.g. for what Express middleware attached to it. Otherwise undefined.
   */
  readonly httpRequest?: IncomingMessage;
  /** On a `wss://` server with `tls.requestCert`: the certificate the client presented, if any. */
  readonly peerCertificate?: PeerCertificate;
}

/** Accept the upgrade. Every field is optional. */
export interface UpgradeAccept<T> {
  /**
   * The subprotocol to answer with: one of `request.protocols`. Omitted: the first one
   * offered (as in `ws` and uWebSockets.js); `""`: none.
   */
  protocol?: string;
  /** Extra headers for the 101 response (not `Upgrade`, `Connection` or `Sec-WebSocket-*`). */
  headers?: Record<string, string>;
  /** The socket's initial `ws.data`, visible in `open`. */
  data?: T;
}

/** Refuse the upgrade with an HTTP response; the connection closes after it. */
export interface UpgradeReject {
  /** HTTP status, 300 to 599. */
  status: number;
  /** Response body; a string is sent as UTF-8 `text/plain` unless `headers` set a content type. */
  body?: string | Uint8Array;
  /** Extra response headers (`Content-Length` and `Connection: close` are set for you). */
  headers?: Record<string, string>;
}

/**
 * What the `upgrade` handler returns (or resolves to): `undefined` or `true` accepts with the
 * defaults, `false` refuses with 403, an object with a `status` refuses with that response,
 * any other object accepts with its settings.
 */
export type UpgradeResponse<T> = void | boolean | UpgradeAccept<T> | UpgradeReject;

/** The `upgrade` handler: sync or async. A throw or rejection answers 500. */
export type UpgradeHandler<T> = (request: UpgradeRequest) => UpgradeResponse<T> | Promise<UpgradeResponse<T>>;

/** `path` option: one path, several, or a predicate on the path (query string excluded). */
export type PathOption = string | readonly string[] | ((path: string) => boolean);

/** @internal Decodes the native Upgrade event payload (native/upgrade.h). */
export function decodeUpgradeRequest(bytes: Buffer, httpRequest?: IncomingMessage, peerCertificate?: PeerCertificate): UpgradeRequest {
  const strings: string[] = [];
  for (let off = 0; off + 4 <= bytes.length; ) {
    const len = bytes.readUInt32LE(off);
    strings.push(bytes.toString("latin1", off + 4, off + 4 + len));
    off += 4 + len;
  }
  const [method = "GET", url = "/", remoteAddress = ""] = strings;
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 3; i + 1 < strings.length; i += 2) {
    const name = strings[i]!.toLowerCase();
    headers[name] = name in headers ? `${headers[name]}, ${strings[i + 1]!}` : strings[i + 1]!;
  }
  const offered = headers["sec-websocket-protocol"];
  const protocols = offered === undefined ? [] : offered.split(",").map((p) => p.trim()).filter((p) => p !== "");
  const query = url.indexOf("?");
  return Object.freeze({
    method,
    url,
    path: query < 0 ? url : url.slice(0, query),
    headers: Object.freeze(headers),
    remoteAddress: httpRequest?.socket?.remoteAddress ?? remoteAddress,
    protocols: Object.freeze(protocols),
    ...(httpRequest ? { httpRequest } : {}),
    ...(peerCertificate ? { peerCertificate } : {}),
  });
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const RESERVED_ACCEPT = /^(upgrade|connection|sec-websocket-.*)$/i;
const RESERVED_REJECT = /^(content-length|connection|transfer-encoding)$/i;

/** An `upgrade` handler result that cannot be used. */
export class UpgradeResponseError extends TypeError {
  /** Always `"ERR_UPGRADE_RESPONSE"`. */
  readonly code = "ERR_UPGRADE_RESPONSE";
  constructor(message: string) {
    super(message);
    this.name = "UpgradeResponseError";
  }
}

function headerLines(headers: unknown, reserved: RegExp): string {
  if (headers === undefined) return "";
  if (headers === null || typeof headers !== "object") throw new UpgradeResponseError("headers must be an object");
  let out = "";
  for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
    if (!TOKEN.test(name)) throw new UpgradeResponseError(`invalid header name ${JSON.stringify(name)}`);
    if (reserved.test(name)) throw new UpgradeResponseError(`header ${name} is set by lwsnode`);
    const text = typeof value === "number" ? String(value) : value;
    if (typeof text !== "string" || !FIELD_VALUE.test(text)) {
      throw new UpgradeResponseError(`invalid value for header ${name}`);
    }
    out += `${name}: ${text}\r\n`;
  }
  return out;
}

/** @internal A checked decision, ready for the native commands. */
export type UpgradeDecision<T> =
  | { accept: true; protocol: string; headerLines: string; data: T | undefined }
  | { accept: false; response: Buffer };

/** @internal The whole HTTP response for a refusal. */
export function rejectResponse(status: number, body?: string | Uint8Array, headers?: Record<string, string>): Buffer {
  const lines = headerLines(headers, RESERVED_REJECT);
  const payload = body === undefined ? Buffer.alloc(0) : typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const type = typeof body === "string" && !/^content-type:/im.test(lines) ? "content-type: text/plain; charset=utf-8\r\n" : "";
  const head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Unknown"}\r\n${lines}${type}content-length: ${payload.length}\r\nconnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), payload]);
}

/** @internal Checks what the handler returned; throws UpgradeResponseError if unusable. */
export function resolveDecision<T>(result: unknown, request: UpgradeRequest): UpgradeDecision<T> {
  if (result === false) return { accept: false, response: rejectResponse(403) };
  const first = request.protocols[0] ?? "";
  if (result === undefined || result === true) return { accept: true, protocol: first, headerLines: "", data: undefined };
  if (result === null || typeof result !== "object") {
    throw new UpgradeResponseError("the upgrade handler must return undefined, a boolean or an object");
  }
  const r = result as Record<string, unknown>;
  if (r.status !== undefined) {
    const status = r.status;
    if (typeof status !== "number" || !Number.isInteger(status) || status < 300 || status > 599) {
      throw new UpgradeResponseError("status must be an integer from 300 to 599");
    }
    const body = r.body;
    if (body !== undefined && typeof body !== "string" && !(body instanceof Uint8Array)) {
      throw new UpgradeResponseError("body must be a string or a Uint8Array");
    }
    return { accept: false, response: rejectResponse(status, body, r.headers as Record<string, string> | undefined) };
  }
  let protocol = first;
  if (r.protocol !== undefined) {
    if (typeof r.protocol !== "string") throw new UpgradeResponseError("protocol must be a string");
    if (r.protocol !== "" && !request.protocols.includes(r.protocol)) {
      throw new UpgradeResponseError(`protocol ${JSON.stringify(r.protocol)} was not offered by the client`);
    }
    protocol = r.protocol;
  }
  return { accept: true, protocol, headerLines: headerLines(r.headers, RESERVED_ACCEPT), data: r.data as T | undefined };
}

/** @internal Checks the `path` option: the native path list, or a predicate JS evaluates. */
export function resolvePath(value: unknown): { paths: string[]; predicate?: (path: string) => boolean } {
  if (value === undefined || value === "") return { paths: [] };
  if (typeof value === "function") return { paths: [], predicate: value as (path: string) => boolean };
  const list = typeof value === "string" ? [value] : Array.isArray(value) ? (value as unknown[]) : undefined;
  if (list === undefined || list.length === 0) {
    throw invalidType("path", "a string, a non-empty array of strings or a function", value);
  }
  for (const p of list) {
    if (typeof p !== "string") throw invalidType("path", "a string, a non-empty array of strings or a function", p);
    if (!p.startsWith("/")) throw outOfRange("path", 'a path starting with "/"', p);
    if (Buffer.byteLength(p) > 1000) throw outOfRange("path", "at most 1000 bytes", p);
  }
  return { paths: list as string[] };
}
