// The async iterator of a ClientWebSocket's messages (`for await (const msg of ws)`).
import type { EventEmitter } from "node:events";
import type { ClientWebSocketEvents } from "./client-events.js";
import { ReadyState } from "./socket-core.js";

/**
 * What the iterator needs of a connection: a {@link ClientWebSocket}.
 * @internal
 */
export interface MessageSource extends EventEmitter<ClientWebSocketEvents> {
  readonly readyState: ReadyState;
  _holdReads(hold: boolean): void;
}

// Messages an iterator queues before the socket stops being read.
const ITERATOR_HIGH_WATER_MARK = 16;

/** One message, as the async iterator of a {@link ClientWebSocket} yields it. */
export interface ClientMessage {
  /** The payload; text arrives as UTF-8 bytes too (`data.toString()`). */
  data: Buffer;
  /** Whether it came as a binary message. */
  isBinary: boolean;
}

/**
 * The messages of `ws` from now on, for `for await`. The iteration ends when the connection
 * closes for good (the `close` event says how; a `reconnect` client's temporary drops do not
 * end it, `reconnectFailed` does); breaking out of the loop stops listening and leaves the
 * connection open. Past 16 messages waiting for the loop, the socket is not read until it
 * catches up.
 * @internal Use `for await (const msg of ws)`.
 */
export async function* messagesOf(ws: MessageSource): AsyncGenerator<ClientMessage, void, undefined> {
  const queue: ClientMessage[] = [];
  let wake: (() => void) | undefined;
  let closed = ws.readyState === ReadyState.CLOSED;
  const onMessage = (data: Buffer, isBinary: boolean): void => {
    queue.push({ data, isBinary });
    // The loop is behind: stop reading the socket (TCP backpressure) until it catches up.
    if (queue.length >= ITERATOR_HIGH_WATER_MARK) ws._holdReads(true);
    wake?.();
  };
  // A reconnecting client's temporary drop is not the end: the loop goes on after `reconnect`,
  // and ends on the final close or when reopening fails for good.
  const onClose = (_code: number, _reason: string, willReconnect: boolean): void => {
    if (willReconnect) return;
    onEnd();
  };
  const onEnd = (): void => {
    closed = true;
    wake?.();
  };
  ws.on("message", onMessage);
  ws.on("close", onClose);
  ws.on("reconnectFailed", onEnd);
  try {
    for (;;) {
      while (queue.length > 0) {
        const msg = queue.shift()!;
        if (queue.length < ITERATOR_HIGH_WATER_MARK / 2) ws._holdReads(false);
        yield msg;
      }
      if (closed) return;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    ws.off("message", onMessage);
    ws.off("close", onClose);
    ws.off("reconnectFailed", onEnd);
    ws._holdReads(false);
  }
}
