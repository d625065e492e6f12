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

/**
 * What `server.publish()`, `ws.publish()` and `server.broadcast()` did. Falsy only when nothing
 * was published, so `if (server.publish(...))` reads as before.
 */
export const PublishStatus = {
  /** Nothing was published: no subscriber (none but the sender), or the server/socket is not open. */
  NOT_PUBLISHED: 0,
  /** Queued for every receiver, and none holds the high-water mark or more. */
  SUCCESS: 1,
  /**
   * Queued for every receiver, but at least one now holds `BACKPRESSURE_HIGH_WATER_MARK` bytes or
   * more (this publish included): its `drain` handler runs once it has written everything.
   * Publishers that pace on their receivers slow down here.
   */
  BACKPRESSURE: 2,
} as const;
export type PublishStatus = (typeof PublishStatus)[keyof typeof PublishStatus];
