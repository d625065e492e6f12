// The `http` handler of a standalone server: plain HTTP requests answered from JS.
import { rejectResponse, UpgradeResponseError } from "./upgrade.js";

/** A plain HTTP request on a standalone server's port, as the `http` handler sees it. */
export interface HttpRequest {
  /** `"GET"`, `"HEAD"`, `"POST"`, … */
  readonly method: string;
  /** Path and query string, e.g. `"/health?full=1"`. */
  readonly url: string;
  /** `url` without the query string. */
  readonly path: string;
  /** Request headers by lower-case name. */
  readonly headers: Readonly<Record<string, string>>;
  /** The client's IP address. */
  readonly remoteAddress: string;
}

/** The `http` handler's answer; the connection closes after it. */
export interface HttpResponse {
  /** HTTP status, 200 to 599. Default 200. */
  status?: number;
  /** Extra response headers (`Content-Length` and `Connection` are set for you). */
  headers?: Record<string, string>;
  /** A string is sent as UTF-8 `text/plain` unless `headers` set a content type. */
  body?: string | Uint8Array;
}

/**
 * Answers plain HTTP requests (health checks, a small page), sync or async. Returning nothing
 * gives the default answer: 426 Upgrade Required on a WebSocket path, 404 elsewhere. A throw or
 * rejection answers 500 (reported as a process warning).
 */
export type HttpHandler = (req: HttpRequest) => HttpResponse | void | Promise<HttpResponse | void>;

/** @internal The default answer to a plain request. */
export function defaultHttpResponse(isWebSocketPath: boolean): Buffer {
  return isWebSocketPath
    ? rejectResponse(426, "Upgrade Required\n", { upgrade: "websocket", "sec-websocket-version": "13" })
    : rejectResponse(404, "Not Found\n");
}

/** @internal The whole HTTP response for what the handler returned; throws if unusable. */
export function httpResponse(result: unknown, method: string, isWebSocketPath: boolean): Buffer {
  const whole = result === undefined ? defaultHttpResponse(isWebSocketPath) : handlerResponse(result);
  if (method !== "HEAD") return whole;
  // HEAD: the same head (with the body's length), no body.
  return whole.subarray(0, whole.indexOf("\r\n\r\n") + 4);
}

function handlerResponse(result: unknown): Buffer {
  if (result === null || typeof result !== "object") throw new UpgradeResponseError("the http handler must return undefined or { status?, headers?, body? }");
  const r = result as HttpResponse;
  const status = r.status ?? 200;
  if (typeof status !== "number" || !Number.isInteger(status) || status < 200 || status > 599) {
    throw new UpgradeResponseError("status must be an integer from 200 to 599");
  }
  if (r.body !== undefined && typeof r.body !== "string" && !(r.body instanceof Uint8Array)) {
    throw new UpgradeResponseError("body must be a string or a Uint8Array");
  }
  return rejectResponse(status, r.body, r.headers);
}
