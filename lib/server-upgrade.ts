// A server's handshakes that wait for JS: the `upgrade` hook and `path` function deciding each
// upgrade (sync or async), the `http` handler answering plain requests, the Node requests of
// handed-over (attached) upgrades, and the `ws.data` an accepted handshake carries to its socket.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { handOver } from "./attach.js";
import { httpResponse } from "./http-handler.js";
import type { NativeReactor } from "./native.js";
import type { ResolvedServerOptions } from "./server-options.js";
import type { PeerCertificate } from "./tls-options.js";
import { decodeUpgradeRequest, rejectResponse, resolveDecision } from "./upgrade.js";

/** The parked handshakes of server `id`. `closed()` says whether the server has closed. */
export class ServerUpgrades<T> {
  readonly #native: NativeReactor;
  readonly #id: number;
  readonly #options: ResolvedServerOptions<T>;
  readonly #closed: () => boolean;
  // ws.data the upgrade handler chose, by handshake, until its socket opens (or never will).
  readonly #upgradeData = new Map<number, T>();
  // Attached: the Node request of each handover, until its handshake reaches the hook.
  readonly #handedOver = new Map<number, IncomingMessage>();
  #nextAttachId = 1;

  constructor(native: NativeReactor, id: number, options: ResolvedServerOptions<T>, closed: () => boolean) {
    this.#native = native;
    this.#id = id;
    this.#options = options;
    this.#closed = closed;
  }

  /** Whether an upgrade to `path` is this server's (attached). */
  wantsPath(path: string): boolean {
    const o = this.#options;
    if (o.paths.length > 0) return o.paths.includes(path);
    return o.pathFilter ? o.pathFilter(path) === true : true;
  }

  /** Hands one upgrade request of a Node HTTP server to the I/O thread (the server listens). */
  handOver(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const attachId = this.#nextAttachId++;
    if (this.#nextAttachId > 0xffffffff) this.#nextAttachId = 1;
    const hooked = this.#options.handlers.upgrade !== undefined || this.#options.pathFilter !== undefined;
    if (hooked) {
      this.#handedOver.set(attachId, req);
      // A handshake refused before the hook (malformed, limits) never comes back for it.
      setTimeout(() => this.#handedOver.delete(attachId), this.#options.handshakeTimeout).unref();
    }
    if (!handOver(this.#native, this.#id, req, socket, head, attachId)) this.#handedOver.delete(attachId);
  }

  /** An upgrade request parked natively until we decide; `peer`: its client certificate. */
  upgrade(upgradeId: number, bytes: Buffer, attachId: number, peer: PeerCertificate | undefined): void {
    const httpRequest = attachId === 0 ? undefined : this.#handedOver.get(attachId);
    if (httpRequest) this.#handedOver.delete(attachId);
    const request = decodeUpgradeRequest(bytes, httpRequest, peer);
    const filter = this.#options.pathFilter;
    const hook = this.#options.handlers.upgrade;
    let result: unknown;
    try {
      if (filter && filter(request.path) !== true) {
        this.#decide(upgradeId, { status: 404 }, request);
        return;
      }
      result = hook ? hook(request) : undefined;
    } catch (err) {
      this.#hookFailed(upgradeId, err);
      return;
    }
    if (result instanceof Promise || (typeof result === "object" && result !== null && typeof (result as { then?: unknown }).then === "function")) {
      (result as Promise<unknown>).then(
        (value) => this.#decide(upgradeId, value, request),
        (err: unknown) => this.#hookFailed(upgradeId, err),
      );
    } else {
      this.#decide(upgradeId, result, request);
    }
  }

  /** A plain HTTP request for the `http` handler. */
  httpRequest(requestId: number, bytes: Buffer): void {
    const { method, url, path, headers, remoteAddress } = decodeUpgradeRequest(bytes);
    const request = Object.freeze({ method, url, path, headers, remoteAddress });
    const isWebSocketPath = this.wantsPath(path);
    const answer = (result: unknown): void => {
      if (this.#closed()) return;
      let response: Buffer;
      try {
        response = httpResponse(result, method, isWebSocketPath);
      } catch (err) {
        this.#hookFailed(requestId, err);
        return;
      }
      this.#native.upgradeReject(this.#id, requestId, response);
    };
    let result: unknown;
    try {
      result = this.#options.handlers.http!(request);
    } catch (err) {
      this.#hookFailed(requestId, err);
      return;
    }
    if (result instanceof Promise) result.then(answer, (err: unknown) => this.#hookFailed(requestId, err));
    else answer(result);
  }

  /** A handshake the hook accepted never opened: forget its data. */
  gone(upgradeId: number): void {
    this.#upgradeData.delete(upgradeId);
  }

  /** The socket of handshake `upgradeId` opened: it gets the `data` the hook chose, if any. */
  giveData(upgradeId: number, ws: { data: T }): void {
    if (upgradeId !== 0 && this.#upgradeData.has(upgradeId)) {
      ws.data = this.#upgradeData.get(upgradeId)!;
      this.#upgradeData.delete(upgradeId);
    }
  }

  #decide(upgradeId: number, result: unknown, request: ReturnType<typeof decodeUpgradeRequest>): void {
    let decision;
    try {
      decision = resolveDecision<T>(result, request);
    } catch (err) {
      this.#hookFailed(upgradeId, err);
      return;
    }
    if (this.#closed()) return;
    if (decision.accept) {
      if (decision.data !== undefined) this.#upgradeData.set(upgradeId, decision.data);
      this.#native.upgradeAccept(this.#id, upgradeId, decision.protocol, decision.headerLines);
    } else {
      this.#native.upgradeReject(this.#id, upgradeId, decision.response);
    }
  }

  // A throwing hook must not take the process down: the client gets 500, the error a warning.
  #hookFailed(upgradeId: number, err: unknown): void {
    if (!this.#closed()) this.#native.upgradeReject(this.#id, upgradeId, rejectResponse(500));
    process.emitWarning(err instanceof Error ? err : String(err), { type: "LwsnodeUpgradeWarning", code: "ERR_UPGRADE_HANDLER" });
  }
}
