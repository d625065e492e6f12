// Attaching to a Node HTTP server: its upgrade requests are handed to the I/O thread.
//
// A plain TCP socket's fd is duplicated natively and adopted by the I/O thread together with
// the request bytes Node already read (the head rebuilt from the IncomingMessage, then `head`
// and anything Node buffered behind it); Node's socket is then destroyed, which closes only
// Node's fd, so the peer sees nothing. From then on no byte of it passes through JS.
// A TLS socket (https.Server) is decrypted by Node: its cleartext is piped through a
// socketpair whose other end the I/O thread adopts (the slower path).
import type { IncomingMessage, Server as HttpServer } from "node:http";
import { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { NativeReactor } from "./native.js";

/** The request head as the client sent it (method, target, version, raw header lines). */
export function requestHead(req: IncomingMessage): Buffer {
  let head = `${req.method ?? "GET"} ${req.url ?? "/"} HTTP/${req.httpVersion || "1.1"}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return Buffer.from(`${head}\r\n`, "latin1");
}

interface NodeSocket extends Duplex {
  encrypted?: boolean;
  remoteAddress?: string;
  _handle?: { fd?: number; readStop?(): number } | null;
}

/**
 * Hands `socket` (whose upgrade request is `req`, followed by `head`) to server `serverId` on
 * the I/O thread. Returns false if it could not; the socket is destroyed either way.
 */
export function handOver(native: NativeReactor, serverId: number, req: IncomingMessage, socket: Duplex, head: Buffer, attachId: number): boolean {
  const s = socket as NodeSocket;
  if (s.destroyed || !s.readable) return false;
  const chunks = [requestHead(req), head];
  // What Node read behind the request and has not delivered (the upgrade event left the
  // socket paused): it goes first, before whatever the kernel still holds.
  while (s.readableLength > 0) {
    const chunk = s.read() as Buffer | string | null;
    if (chunk === null) break;
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk, "latin1") : chunk);
  }
  const preamble = Buffer.concat(chunks);
  const fd = s.encrypted ? -1 : s._handle?.fd ?? -1;
  if (fd >= 0) {
    s._handle!.readStop?.();
    const ok = native.adopt(serverId, fd, preamble, attachId, false, "");
    // Closes Node's descriptor only (no shutdown): the duplicate keeps the connection open.
    s.destroy();
    return ok;
  }
  return pipeThroughPair(native, serverId, s, preamble, attachId);
}

// The stream's bytes go through Node (TLS): one end of a socketpair is adopted, the other
// is piped to and from the stream.
function pipeThroughPair(native: NativeReactor, serverId: number, stream: NodeSocket, preamble: Buffer, attachId: number): boolean {
  let fds: [number, number];
  try {
    fds = native.socketPair();
  } catch {
    stream.destroy();
    return false;
  }
  const [ours, theirs] = fds;
  const peer = stream.remoteAddress ?? "";
  if (!native.adopt(serverId, ours, preamble, attachId, true, peer)) {
    new Socket({ fd: theirs }).destroy();
    stream.destroy();
    return false;
  }
  const local = new Socket({ fd: theirs, readable: true, writable: true });
  stream.pipe(local);
  local.pipe(stream);
  const end = (): void => {
    stream.destroy();
    local.destroy();
  };
  stream.once("close", end);
  local.once("close", end);
  stream.on("error", end);
  local.on("error", end);
  return true;
}

/** An attached lwsnode server, as the dispatcher sees it. */
export interface AttachedServer {
  /** Whether an upgrade to this path is this server's. */
  _wantsPath(path: string): boolean;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

// The lwsnode servers attached to each HTTP server, in attach order: one 'upgrade' listener
// per HTTP server picks the first whose path matches.
const attached = new WeakMap<HttpServer, { servers: AttachedServer[]; listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void }>();

export function attach(http: HttpServer, server: AttachedServer): void {
  let entry = attached.get(http);
  if (!entry) {
    const servers: AttachedServer[] = [];
    const listener = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      const url = req.url ?? "/";
      const q = url.indexOf("?");
      const path = q < 0 ? url : url.slice(0, q);
      for (const s of servers) {
        if (s._wantsPath(path)) {
          s.handleUpgrade(req, socket, head);
          return;
        }
      }
      // Other paths are the app's, if it listens for upgrades too; else nobody would answer.
      if (http.listenerCount("upgrade") === 1) {
        socket.end("HTTP/1.1 404 Not Found\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 10\r\nconnection: close\r\n\r\nNot Found\n");
      }
    };
    entry = { servers, listener };
    attached.set(http, entry);
    http.on("upgrade", listener);
  }
  entry.servers.push(server);
}

export function detach(http: HttpServer, server: AttachedServer): void {
  const entry = attached.get(http);
  if (!entry) return;
  const i = entry.servers.indexOf(server);
  if (i >= 0) entry.servers.splice(i, 1);
  if (entry.servers.length === 0) {
    http.removeListener("upgrade", entry.listener);
    attached.delete(http);
  }
}
