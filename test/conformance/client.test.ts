// RFC 6455 / RFC 7692 conformance of the client side (issue 12, item 7): lwsnode's connect()
// against a raw node:net server that answers the handshake by hand and then sends what a case
// needs (reserved opcodes, pings in a row, bad permessage-deflate answers, ...). The raw
// server records every frame the client sends back (masked, parsed by test/helpers.ts).
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { connect, type ClientWebSocket } from "../../lib/index.js";
import { acceptFor, closePayload, frame, OP, parseFrame, readHttpHead, type ParsedFrame } from "../helpers.js";
import { PmdCodec } from "./session.js";
import type { Grade } from "./run.js";

const f = (o: Parameters<typeof frame>[0]): Buffer => frame({ mask: false, ...o });

interface Peer {
  socket: Socket;
  offer: string | undefined;
  frames: ParsedFrame[];
  /** Frames the client sent after its close frame: always a failure. */
  afterClose: number;
  ended: Promise<void>;
}

/** A raw server: answers one handshake with `extensions` (if any) and hands over the socket. */
async function rawServer(extensions: string | undefined, script: (peer: Peer) => unknown): Promise<{ port: number; server: TcpServer }> {
  const server = createTcpServer(async (socket) => {
    socket.on("error", () => undefined);
    const request = await readHttpHead(socket).catch(() => undefined);
    if (!request) return;
    const lines = [
      "HTTP/1.1 101 Switching Protocols",
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Accept: ${acceptFor(request.headers.get("sec-websocket-key") ?? "")}`,
    ];
    if (extensions !== undefined) lines.push(`Sec-WebSocket-Extensions: ${extensions}`);
    socket.write(lines.join("\r\n") + "\r\n\r\n");
    let closed = false;
    const peer: Peer = {
      socket,
      offer: request.headers.get("sec-websocket-extensions"),
      frames: [],
      afterClose: 0,
      ended: new Promise<void>((resolve) => socket.once("close", () => resolve())),
    };
    let buf = request.rest;
    const feed = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      for (let p = parseFrame(buf); p; p = parseFrame(buf)) {
        buf = buf.subarray(p.length);
        if (closed) peer.afterClose++;
        else peer.frames.push(p.frame);
        if (p.frame.opcode === OP.CLOSE) closed = true;
      }
    };
    socket.on("data", feed);
    feed(Buffer.alloc(0));
    socket.resume();
    void script(peer);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as { port: number }).port, server };
}

interface ClientCase {
  id: string;
  title: string;
  /** The Sec-WebSocket-Extensions answer; undefined: none. */
  extensions?: string;
  deflate?: boolean;
  /** The handshake must fail (a bad permessage-deflate answer). */
  refuse?: boolean;
  script(peer: Peer): unknown;
  /** Decides the grade from what the client sent and reported. */
  judge(peer: Peer, events: { messages: Buffer[]; pings: Buffer[]; close?: { code: number } }): Grade | string;
}

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const closeCode = (p: Peer): number | undefined => {
  const c = p.frames.find((fr) => fr.opcode === OP.CLOSE);
  return c && c.payload.length >= 2 ? c.payload.readUInt16BE(0) : undefined;
};

const CASES: ClientCase[] = [];
for (const op of [3, 7, 0xb, 0xf]) {
  CASES.push({
    id: `4 opcode ${op}`,
    title: `a server frame with reserved opcode ${op} fails the connection with 1002`,
    script: (p) => p.socket.write(Buffer.concat([f({ opcode: OP.TEXT, payload: "before" }), f({ opcode: op, payload: "" })])),
    judge: (p, e) => (closeCode(p) === 1002 && e.close?.code === 1002 && e.messages.length === 1 ? "strict" : `sent close ${closeCode(p)}, reported ${e.close?.code}, messages ${e.messages.length}`),
  });
}
CASES.push({
  id: "3 RSV2",
  title: "RSV2 on a server frame fails with 1002",
  script: (p) => p.socket.write(f({ opcode: OP.TEXT, rsv: 2, payload: "x" })),
  judge: (p, e) => (closeCode(p) === 1002 && e.close?.code === 1002 ? "strict" : `sent close ${closeCode(p)}, reported ${e.close?.code}`),
});
CASES.push({
  id: "1.4 masked server frame",
  title: "a masked server frame fails with 1002",
  script: (p) => p.socket.write(frame({ opcode: OP.TEXT, payload: "masked", mask: true })),
  judge: (p, e) => (closeCode(p) === 1002 && e.close?.code === 1002 ? "strict" : `sent close ${closeCode(p)}, reported ${e.close?.code}`),
});
CASES.push({
  id: "2.10 ten pings",
  title: "ten pings in a row each get their pong, in order",
  script: (p) => p.socket.write(Buffer.concat(Array.from({ length: 10 }, (_, i) => f({ opcode: OP.PING, payload: `payload-${i}` })))),
  judge: (p, e) => {
    const pongs = p.frames.filter((fr) => fr.opcode === OP.PONG).map((fr) => fr.payload.toString());
    const want = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
    if (e.pings.length !== 10) return `${e.pings.length} ping events`;
    if (JSON.stringify(pongs) === JSON.stringify(want)) return "strict";
    return pongs.length && pongs[pongs.length - 1] === want[9] ? "non-strict" : `pongs: ${pongs.join(",")}`;
  },
});
for (const code of [1000, 1001, 1011, 1012, 1013, 1014, 3000, 4999]) {
  CASES.push({
    id: `7.7 code ${code}`,
    title: `a server close with ${code} is answered with it and reported`,
    script: (p) => p.socket.write(f({ opcode: OP.CLOSE, payload: closePayload(code, "bye") })),
    judge: (p, e) => (closeCode(p) === code && e.close?.code === code ? "strict" : `answered ${closeCode(p)}, reported ${e.close?.code}`),
  });
}
for (const code of [999, 1005, 1015, 2000, 5000]) {
  CASES.push({
    id: `7.9 code ${code}`,
    title: `a server close with invalid code ${code} is answered with 1002`,
    script: (p) => p.socket.write(f({ opcode: OP.CLOSE, payload: closePayload(code) })),
    judge: (p) => (closeCode(p) === 1002 ? "strict" : `answered ${closeCode(p)}`),
  });
}
CASES.push({
  id: "7.1.1 message then close",
  title: "a message then a close: the client's reply to the message leaves before its close",
  script: (p) => p.socket.write(Buffer.concat([f({ opcode: OP.TEXT, payload: "question" }), f({ opcode: OP.CLOSE, payload: closePayload(1000) })])),
  judge: (p) => {
    const kinds = p.frames.map((fr) => (fr.opcode === OP.TEXT ? `text:${fr.payload}` : fr.opcode === OP.CLOSE ? "close" : `op${fr.opcode}`));
    return kinds.join(" ") === "text:answer close" ? "strict" : kinds.join(" ");
  },
});
for (const [name, answer] of [
  ["unknown parameter", "permessage-deflate; foo"],
  ["duplicate parameter", "permessage-deflate; client_no_context_takeover; client_no_context_takeover"],
  ["server window 7", "permessage-deflate; server_max_window_bits=7"],
  ["server window 16", "permessage-deflate; server_max_window_bits=16"],
  ["value on server_no_context_takeover", "permessage-deflate; server_no_context_takeover=1"],
  ["client window without value", "permessage-deflate; client_max_window_bits"],
  ["lws-only option", "permessage-deflate; rx_buf_size=8"],
  ["two elements", "permessage-deflate, permessage-deflate"],
  ["unrequested extension", "x-webkit-deflate-frame"],
] as const) {
  CASES.push({
    id: `12 answer: ${name}`,
    title: `a permessage-deflate answer with ${name} fails the handshake`,
    extensions: answer,
    deflate: true,
    refuse: true,
    script: () => undefined,
    judge: () => "strict",
  });
}
CASES.push({
  id: "13 compressed from server",
  title: "compressed server messages (context takeover) are inflated; RSV1 on a continuation then fails with 1002",
  extensions: "permessage-deflate; client_no_context_takeover",
  deflate: true,
  script: async (p) => {
    const codec = new PmdCodec(15, false, false);
    const a = await codec.compress(Buffer.from("hello hello hello"));
    const b = await codec.compress(Buffer.from("hello hello hello"));
    codec.close();
    p.socket.write(Buffer.concat([f({ opcode: OP.TEXT, rsv: 4, payload: a }), f({ opcode: OP.TEXT, rsv: 4, payload: b })]));
    await wait(50);
    p.socket.write(Buffer.concat([f({ opcode: OP.TEXT, rsv: 4, fin: false, payload: a.subarray(0, 3) }), f({ opcode: OP.CONT, rsv: 4, payload: a.subarray(3) })]));
  },
  judge: (p, e) =>
    e.messages.map(String).join("|") === "hello hello hello|hello hello hello" && closeCode(p) === 1002 ? "strict" : `messages ${e.messages.map(String).join("|")}, close ${closeCode(p)}`,
});

const grades: { id: string; grade: Grade | string }[] = [];

async function runClientCase(c: ClientCase): Promise<Grade | string> {
  const peers: Peer[] = [];
  const { port, server } = await rawServer(c.extensions, (p) => {
    peers.push(p);
    return c.script(p);
  });
  let ws: ClientWebSocket | undefined;
  try {
    try {
      ws = await connect(`ws://127.0.0.1:${port}/`, { perMessageDeflate: c.deflate ?? false, closeTimeout: 1000 });
    } catch (err) {
      const code = (err as { code?: string }).code;
      return c.refuse && code === "EHANDSHAKE" ? "strict" : `connect failed: ${code} ${(err as Error).message}`;
    }
    if (c.refuse) return `handshake accepted with "${c.extensions}"`;
    const events: { messages: Buffer[]; pings: Buffer[]; close?: { code: number } } = { messages: [], pings: [] };
    ws.on("message", (data: Buffer) => {
      events.messages.push(data);
      if (data.toString() === "question") ws!.send("answer");
    });
    ws.on("ping", (data: Buffer) => events.pings.push(data));
    const closed = new Promise<void>((resolve) =>
      ws!.on("close", (code: number) => {
        events.close = { code };
        resolve();
      }),
    );
    await Promise.race([closed, wait(1500)]);
    const peer = peers[0];
    if (!peer) return "no connection";
    if (!events.close) {
      peer.socket.write(f({ opcode: OP.CLOSE, payload: closePayload(1000) }));
      await Promise.race([closed, wait(1500)]);
    } else if (!peer.socket.destroyed) {
      peer.socket.end(f({ opcode: OP.CLOSE, payload: closePayload(closeCode(peer) ?? 1000) }));
    }
    await Promise.race([peer.ended, wait(1000)]);
    if (peer.afterClose) return `${peer.afterClose} frame(s) after the client's close`;
    return c.judge(peer, events);
  } finally {
    ws?.terminate();
    for (const p of peers) p.socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe("client conformance (connect() against a raw server)", () => {
  it("no case fails", async () => {
    const pending = CASES.map(async (c) => ({ id: c.id, grade: await runClientCase(c) }));
    grades.push(...(await Promise.all(pending)));
    const failed = grades.filter((g) => g.grade !== "strict" && g.grade !== "non-strict").map((g) => `${g.id}: ${g.grade}`);
    expect(failed).toEqual([]);
  }, 60_000);

  afterAll(() => {
    const count = (g: Grade): number => grades.filter((x) => x.grade === g).length;
    const failed = grades.length - count("strict") - count("non-strict");
    console.log(
      [
        "| target | cases | strict | non-strict | failed |",
        "| --- | --- | --- | --- | --- |",
        `| lwsnode client | ${grades.length} | ${count("strict")} | ${count("non-strict")} | ${failed} |`,
        ...grades.filter((g) => g.grade !== "strict").map((g) => `  ${g.id}: ${g.grade}`),
      ].join("\n"),
    );
  });
});
