// A ClientWebSocket as a Duplex stream, for code that pipes data (as `ws`'s
// createWebSocketStream).
import { Duplex } from "node:stream";
import type { ClientWebSocket } from "./client.js";
import { invalidType } from "./errors.js";
import { ReadyState } from "./socket-core.js";
import { SendStatus } from "./send-status.js";

/** Options of {@link createWebSocketStream}, passed on to the `Duplex`. */
export interface WebSocketStreamOptions {
  /** The readable side's high-water mark, in bytes. Default 16 KiB, as for any stream. */
  readableHighWaterMark?: number;
  /** The writable side's high-water mark, in bytes. Default 16 KiB. */
  writableHighWaterMark?: number;
}

/**
 * A `Duplex` over an open client connection, as `ws`'s `createWebSocketStream`: each message
 * received is a chunk to read (a Buffer), each chunk written is a message (strings as text,
 * bytes as binary). While the readable side is full the socket is not read (TCP backpressure
 * reaches the server). A write completes once `send()` has queued it without backpressure, or
 * once `drain` says the queue went down. Ending the writable side closes the connection with
 * 1000 after what was written; the connection's close ends the readable side (an abnormal
 * close, 1006, destroys the stream with an error); destroying the stream terminates it.
 *
 * ```ts
 * const ws = await connect("ws://127.0.0.1:8080/");
 * await pipeline(process.stdin, createWebSocketStream(ws), process.stdout);
 * ```
 */
export function createWebSocketStream(ws: ClientWebSocket, options: WebSocketStreamOptions = {}): Duplex {
  if (options === null || typeof options !== "object") throw invalidType("options", "an object", options);
  let drainWaiter: (() => void) | undefined;
  const stream = new Duplex({
    readableHighWaterMark: options.readableHighWaterMark,
    writableHighWaterMark: options.writableHighWaterMark,
    decodeStrings: false,
    read() {
      // The consumer wants more: read the socket again (see onMessage).
      ws._holdReads(false);
    },
    write(chunk: string | Buffer, _encoding, callback) {
      const status = ws.send(chunk, typeof chunk !== "string");
      if (status === SendStatus.CLOSED) callback(closedError());
      else if (status === SendStatus.BACKPRESSURE) drainWaiter = () => callback();
      else callback();
    },
    final(callback) {
      if (ws.readyState === ReadyState.OPEN) ws.close(1000);
      callback();
    },
    destroy(err, callback) {
      ws.off("message", onMessage);
      ws._holdReads(false);
      ws.off("close", onClose);
      ws.off("drain", onDrain);
      if (ws.readyState !== ReadyState.CLOSED) ws.terminate();
      callback(err);
    },
  });
  const onMessage = (data: Buffer): void => {
    // The readable side is full: stop reading the socket until read() asks for more.
    if (!stream.push(data)) ws._holdReads(true);
  };
  const onDrain = (): void => {
    const waiter = drainWaiter;
    drainWaiter = undefined;
    waiter?.();
  };
  const onClose = (code: number): void => {
    const waiter = drainWaiter;
    drainWaiter = undefined;
    if (code === 1006) {
      stream.destroy(Object.assign(new Error(`the connection dropped (1006)`), { code: "ERR_STREAM_PREMATURE_CLOSE" }));
      return;
    }
    waiter?.();
    ws._holdReads(false);
    stream.push(null);
  };
  ws.on("message", onMessage);
  ws.on("drain", onDrain);
  ws.on("close", onClose);
  return stream;
}

function closedError(): Error {
  return Object.assign(new Error("write after the connection closed"), { code: "ERR_STREAM_WRITE_AFTER_END" });
}
