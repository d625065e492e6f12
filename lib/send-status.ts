/**
 * What `send()` did with a message. The numbers match uWebSockets.js's `send()` results, plus
 * `CLOSED`.
 */
export const SendStatus = {
  /** Accepted, but the socket already held more than the high-water mark: slow down until `drain`. */
  BACKPRESSURE: 0,
  /** Accepted; the socket is keeping up. */
  SUCCESS: 1,
  /** Not accepted: the socket already buffers `maxBackpressure` bytes. A `drain` follows. */
  DROPPED: 2,
  /** Not accepted: the socket is closing or closed. */
  CLOSED: 3,
} as const;
export type SendStatus = (typeof SendStatus)[keyof typeof SendStatus];

/**
 * Buffered bytes above which `send()` reports `BACKPRESSURE` (and `drain` follows once the
 * socket has written everything). Sends are always asynchronous, so a short burst is not
 * backpressure; a consumer that falls this far behind is.
 */
export const BACKPRESSURE_HIGH_WATER_MARK = 64 * 1024;
