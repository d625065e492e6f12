// The events a ClientWebSocket emits, and their arguments.
import type { ConnectError } from "./errors.js";

/** Events of a {@link ClientWebSocket} (Node EventEmitter style, as in `ws`). */
export interface ClientWebSocketEvents {
  /** A whole message; `data` is yours to keep. Text arrives as a Buffer of valid UTF-8 too (`data.toString()`). */
  message: [data: Buffer, isBinary: boolean];
  /**
   * Exactly once per opened connection: the code the server sent (1005 if none), ours if we
   * closed first, 1006 if it dropped. `willReconnect` is true when this is a temporary drop of a
   * `reconnect` client: a new attempt is scheduled (`reconnecting` follows, then `reconnect` or
   * `reconnectFailed`); false when the connection is closed for good.
   */
  close: [code: number, reason: string, willReconnect: boolean];
  /** Everything sent while `send()` reported `BACKPRESSURE` has been written. */
  drain: [];
  /** The server sent a pong, usually the answer to `ping()`. */
  pong: [data: Buffer];
  /** The server sent a ping; the pong that answers it is already on its way (sent natively). */
  ping: [data: Buffer];
  /** With `reconnect`: attempt `attempt` (1, 2, …) starts in `delayMs` ms. */
  reconnecting: [attempt: number, delayMs: number];
  /** With `reconnect`: the connection is open again (same object, fresh `bufferedAmount`). */
  reconnect: [];
  /** With `reconnect`: reopening a dropped connection failed for good; it stays closed. */
  reconnectFailed: [error: ConnectError];
}
