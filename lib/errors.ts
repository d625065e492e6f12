// Typed errors. Every error lwsnode raises carries a stable `code`, as Node's own do.

/** A server could not listen: `code` is the errno name (`EADDRINUSE`, `EACCES`, …, `ENOTFOUND` for a host that does not resolve). */
export class ListenError extends Error {
  /** The errno name, e.g. `EADDRINUSE`. */
  readonly code: string;
  /** The port that was asked for. */
  readonly port: number;
  /** The host that was asked for. */
  readonly host: string;
  constructor(code: string, message: string, host: string, port: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ListenError";
    this.code = code;
    this.host = host;
    this.port = port;
  }
}

/** An operation on a server, socket or reactor that is closed. */
export class ClosedError extends Error {
  /** Always `ERR_CLOSED`. */
  readonly code = "ERR_CLOSED";
  constructor(message: string) {
    super(message);
    this.name = "ClosedError";
  }
}

/** `TypeError` with Node's `ERR_INVALID_ARG_TYPE` code. `kind` says what `name` is. */
export function invalidType(name: string, expected: string, actual: unknown, kind: "option" | "argument" = "option"): TypeError {
  return withCode(new TypeError(`The "${name}" ${kind} must be ${expected}. Received ${describe(actual)}`), "ERR_INVALID_ARG_TYPE");
}

/** `RangeError` with Node's `ERR_OUT_OF_RANGE` code. */
export function outOfRange(name: string, range: string, actual: unknown): RangeError {
  return withCode(new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${describe(actual)}`), "ERR_OUT_OF_RANGE");
}

/** Gives `err` a stable `code` (as Node's own errors have). */
export function withCode<E extends Error>(err: E, code: string): E & { code: string } {
  return Object.assign(err, { code });
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "function") return "function";
  if (v === null || typeof v !== "object") return String(v);
  return Array.isArray(v) ? "an array" : "an object";
}

/** Why {@link ConnectError} was raised; one value per failure mode. */
export type ConnectFailure = "dns" | "refused" | "network" | "tls" | "status" | "handshake" | "timeout" | "aborted";

/**
 * `connect()` (or a `WebSocket`) could not open the connection.
 *
 * | `reason`    | `code`                                   | when |
 * |-------------|------------------------------------------|------|
 * | `dns`       | `ENOTFOUND`, `EAI_AGAIN`, …              | the host name did not resolve |
 * | `refused`   | `ECONNREFUSED`                           | nothing listens on that port |
 * | `network`   | `ECONNRESET`, `EHOSTUNREACH`, `ECONNECT` | the connection failed or was dropped before the handshake completed |
 * | `tls`       | Node's TLS codes: `UNABLE_TO_GET_ISSUER_CERT_LOCALLY`, `DEPTH_ZERO_SELF_SIGNED_CERT`, `CERT_HAS_EXPIRED`, `ERR_TLS_CERT_ALTNAME_INVALID`, … (the server's certificate was refused; the message gives OpenSSL's reason), `ERR_SSL_<reason>` (the handshake failed, e.g. `ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION`), else `ETLS` | the TLS handshake failed |
 * | `status`    | `EHTTPSTATUS`                            | the server answered with an HTTP status other than 101 (see `status`) |
 * | `handshake` | `EHANDSHAKE`                             | the 101 response was unacceptable (bad accept key, a subprotocol not offered, …) |
 * | `timeout`   | `ETIMEDOUT`                              | no completed handshake within `handshakeTimeout` |
 * | `aborted`   | `EABORTED`                               | `close()`/`terminate()` was called while connecting |
 */
export class ConnectError extends Error {
  /** An errno-style name of the failure (see the table above), e.g. `ECONNREFUSED`. */
  readonly code: string;
  /** Which step failed (see the table above). */
  readonly reason: ConnectFailure;
  /** The HTTP status of a non-101 answer (`reason === "status"`), else 0. */
  readonly status: number;
  /** The URL that was being connected to. */
  readonly url: string;
  constructor(reason: ConnectFailure, code: string, message: string, url: string, status = 0, options?: { cause?: unknown }) {
    super(`connect ${url}: ${message}`, options);
    this.name = "ConnectError";
    this.reason = reason;
    this.code = code;
    this.status = status;
    this.url = url;
  }
}

/** The {@link ConnectFailure} a native connect error code belongs to. */
export function connectFailure(code: string): ConnectFailure {
  switch (code) {
    case "ECONNREFUSED":
      return "refused";
    case "ETLS":
      return "tls";
    case "EHTTPSTATUS":
      return "status";
    case "EHANDSHAKE":
      return "handshake";
    case "ETIMEDOUT":
      return "timeout";
    case "EABORTED":
      return "aborted";
    default:
      return "network";
  }
}
