// Typed errors. Every error lwsnode raises carries a stable `code`, as Node's own do.

/** A server could not listen: `code` is the errno name (`EADDRINUSE`, `EACCES`, …). */
export class ListenError extends Error {
  /** The errno name, e.g. `EADDRINUSE`. */
  readonly code: string;
  /** The port that was asked for. */
  readonly port: number;
  /** The host that was asked for. */
  readonly host: string;
  constructor(code: string, message: string, host: string, port: number) {
    super(message);
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

/** `TypeError` with Node's `ERR_INVALID_ARG_TYPE` code. */
export function invalidType(name: string, expected: string, actual: unknown): TypeError {
  const err = new TypeError(`The "${name}" option must be ${expected}. Received ${describe(actual)}`);
  (err as TypeError & { code: string }).code = "ERR_INVALID_ARG_TYPE";
  return err;
}

/** `RangeError` with Node's `ERR_OUT_OF_RANGE` code. */
export function outOfRange(name: string, range: string, actual: unknown): RangeError {
  const err = new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${describe(actual)}`);
  (err as RangeError & { code: string }).code = "ERR_OUT_OF_RANGE";
  return err;
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "function") return "function";
  if (v === null || typeof v !== "object") return String(v);
  return Array.isArray(v) ? "an array" : "an object";
}
