// A client connection's keepalive (`pingInterval`, `pongTimeout`): after pingInterval ms with
// nothing received it pings; if nothing arrives within pongTimeout ms more, the peer is taken as
// gone (a half-open connection) and the connection is dropped.

/** The connection a keepalive watches (a ClientWebSocket's, while open). */
export interface KeepaliveTarget {
  /** Whether the connection is still open; the keepalive stops once it is not. */
  isOpen(): boolean;
  /** A count bumped by everything received (messages, pings, pongs). */
  heard(): number;
  ping(): void;
  /** Nothing came back after the ping: drop the connection. */
  dead(): void;
}

/** The keepalive of one connection, running from construction until stop(). Its timers never keep the process alive. */
export class Keepalive {
  #timer?: NodeJS.Timeout;

  constructor(target: KeepaliveTarget, pingInterval: number, pongTimeout: number) {
    let heard = target.heard();
    const idle = (): void => {
      this.#timer = undefined;
      if (!target.isOpen()) return;
      if (target.heard() !== heard) {
        heard = target.heard();
        this.#timer = setTimeout(idle, pingInterval).unref();
        return;
      }
      target.ping();
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        if (!target.isOpen()) return;
        if (target.heard() !== heard) {
          heard = target.heard();
          this.#timer = setTimeout(idle, pingInterval).unref();
        } else {
          target.dead();
        }
      }, pongTimeout).unref();
    };
    this.#timer = setTimeout(idle, pingInterval).unref();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
