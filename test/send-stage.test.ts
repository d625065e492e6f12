// Small sends are staged in JS and cross into native code in one call per turn
// (lib/send-stage.ts); larger ones go directly. None of that may change what a peer receives:
// every message intact, in the order of the calls, whatever mix of sizes, data types and
// other commands (pings, publishes, a close) one turn makes.
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { connect, type ServerWebSocket } from "../lib/index.js";
import { STAGE_BYTES, STAGE_MAX_PAYLOAD } from "../lib/send-stage.js";
import { closed, closePayload, frame, OP, openTracked, rawTracked, startServer, startWsServer, urlOf, useCleanup, waitFor } from "./helpers.js";

const defer = useCleanup();

interface Got {
  text?: string;
  bytes?: Buffer;
  ping?: string;
}

/** Records every message and ping `client` receives, in order. */
function record(client: WebSocket): Got[] {
  const got: Got[] = [];
  client.on("message", (data: Buffer, isBinary) => got.push(isBinary ? { bytes: Buffer.from(data) } : { text: data.toString() }));
  client.on("ping", (data) => got.push({ ping: data.toString() }));
  return got;
}

async function oneSocket(options: Parameters<typeof startServer>[1] = {}) {
  const sockets: ServerWebSocket[] = [];
  const server = await startServer(defer, {
    ...options,
    open(ws) {
      ws.subscribe("t");
      sockets.push(ws);
    },
  });
  const client = await openTracked(defer, urlOf(server));
  await waitFor(() => sockets.length === 1, 5000, "open");
  return { server, ws: sockets[0]!, client, got: record(client) };
}

const bytes = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));

describe("staged sends", () => {
  it("one turn of staged and direct sends, pings and publishes arrives whole and in call order", async () => {
    const { server, ws, client, got } = await oneSocket();
    const expected: Got[] = [];
    const big = bytes(STAGE_MAX_PAYLOAD + 1, 1); // one byte too many to stage: sent directly
    const edge = bytes(STAGE_MAX_PAYLOAD, 2); // the largest staged payload
    const backing = bytes(64, 3);
    const u16 = new Uint16Array([1, 2, 0xffff, 0x1234]);
    const view = new DataView(backing.buffer, backing.byteOffset + 8, 16);
    const longText = "é".repeat(Math.floor(STAGE_MAX_PAYLOAD / 3) + 1); // too many UTF-16 units to stage
    for (let i = 0; i < 3; i++) {
      ws.send(`small ${i}`);
      expected.push({ text: `small ${i}` });
      ws.send(big);
      expected.push({ bytes: big });
      ws.send("");
      expected.push({ text: "" });
      ws.send(new Uint8Array(0));
      expected.push({ bytes: Buffer.alloc(0) });
      ws.send(edge);
      expected.push({ bytes: edge });
      ws.send("ünïcödé ✓ 𝄞");
      expected.push({ text: "ünïcödé ✓ 𝄞" });
      ws.send(u16);
      expected.push({ bytes: Buffer.from(u16.buffer, u16.byteOffset, u16.byteLength) });
      ws.send(view);
      expected.push({ bytes: Buffer.from(backing.subarray(8, 24)) });
      ws.send(backing.subarray(5, 9)); // a view into the middle of a larger buffer
      expected.push({ bytes: Buffer.from(backing.subarray(5, 9)) });
      ws.send((backing.buffer as ArrayBuffer).slice(backing.byteOffset, backing.byteOffset + 3)); // an ArrayBuffer
      expected.push({ bytes: Buffer.from(backing.subarray(0, 3)) });
      ws.send("text as binary", true);
      expected.push({ bytes: Buffer.from("text as binary") });
      ws.send(bytes(5, 9), false); // bytes as text
      expected.push({ text: bytes(5, 9).toString() });
      ws.ping(`ping ${i}`);
      expected.push({ ping: `ping ${i}` });
      server.publish("t", `publish ${i}`);
      expected.push({ text: `publish ${i}` });
      ws.send(longText);
      expected.push({ text: longText });
    }
    await waitFor(() => got.length >= expected.length, 5000, "every message");
    expect(got).toEqual(expected);
    expect(client.readyState).toBe(WebSocket.OPEN);
  });

  it("a lone surrogate leaves as U+FFFD, staged or not, as Buffer.from(string) encodes it", async () => {
    const { ws, got } = await oneSocket();
    const short = "a\ud800b";
    const long = "x".repeat(STAGE_MAX_PAYLOAD) + "\udc00";
    ws.send(short);
    ws.send(long);
    await waitFor(() => got.length >= 2, 5000, "both messages");
    expect(got).toEqual([{ text: Buffer.from(short).toString() }, { text: Buffer.from(long).toString() }]);
    expect(got[0]!.text).toBe("a\ufffdb");
  });

  it("a turn that stages more than the stage holds flushes it as it fills: nothing lost or reordered", async () => {
    const { ws, got } = await oneSocket();
    const count = Math.ceil((3 * STAGE_BYTES) / 1000);
    const payloads = Array.from({ length: count }, (_, i) => {
      const payload = bytes(1000, i);
      payload.writeUInt32BE(i, 0);
      return payload;
    });
    let staged = 0;
    for (const payload of payloads) {
      ws.send(payload);
      staged += payload.length;
    }
    // Synchronous and exact while staged: nothing has crossed to native code yet, or only part.
    expect(ws.bufferedAmount).toBe(staged);
    await waitFor(() => got.length >= count, 10000, "every message");
    expect(got.map((g) => g.bytes!.readUInt32BE(0))).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(got.every((g, i) => g.bytes!.equals(payloads[i]!))).toBe(true);
    await waitFor(() => ws.bufferedAmount === 0, 5000, "bufferedAmount back to 0");
  });

  it("a close after staged sends in a message handler leaves after them", async () => {
    const server = await startServer(defer, {
      message(ws, data) {
        for (let i = 0; i < 100; i++) ws.send(`${data.toString()} ${i}`);
        ws.close(4001, "done");
      },
    });
    const client = await openTracked(defer, urlOf(server));
    const got = record(client);
    const end = closed(client);
    client.send("m");
    const info = await end;
    expect(info.code).toBe(4001);
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => ({ text: `m ${i}` })));
  });

  it("sends made after the handler returned (its microtasks, an async handler's continuation) still cross at once", async () => {
    const server = await startServer(defer, {
      async message(ws, data) {
        const text = data.toString();
        ws.send(`${text} sync`);
        queueMicrotask(() => ws.send(`${text} microtask`));
        await Promise.resolve();
        ws.send(`${text} after await`);
      },
    });
    const client = await openTracked(defer, urlOf(server));
    const got = record(client);
    for (const m of ["a", "b"]) {
      client.send(m);
      // Nothing else wakes the I/O thread here: each of these must bring its own wakeup.
      await waitFor(() => got.length === (m === "a" ? 3 : 6), 2000, `the replies to ${m}`);
    }
    expect(got).toEqual(["a", "b"].flatMap((m) => [{ text: `${m} sync` }, { text: `${m} microtask` }, { text: `${m} after await` }]));
  });

  it("replies to messages that arrive in the same write as the peer's close leave before the close reply", async () => {
    const server = await startServer(defer, {
      message(ws, data) {
        for (let i = 0; i < 3; i++) ws.send(`${data.toString()} ${i}`);
      },
    });
    const raw = await rawTracked(defer, server.port);
    // One write: the I/O thread sees both messages and the close in one batch.
    raw.write(
      Buffer.concat([
        frame({ opcode: OP.TEXT, payload: Buffer.from("x") }),
        frame({ opcode: OP.TEXT, payload: Buffer.from("y") }),
        frame({ opcode: OP.CLOSE, payload: closePayload(4003) }),
      ]),
    );
    const got: string[] = [];
    for (;;) {
      const f = await raw.readFrame(5000);
      if (f.opcode === OP.CLOSE) {
        expect(f.payload.readUInt16BE(0)).toBe(4003);
        break;
      }
      got.push(f.payload.toString());
    }
    expect(got).toEqual(["x 0", "x 1", "x 2", "y 0", "y 1", "y 2"]);
  });

  describe("a client's sends (masked by the I/O thread as it writes them)", () => {
    /** A `ws` server (which refuses unmasked client frames) recording what each connection receives. */
    async function wsPeer(): Promise<{ port: number; got: Got[]; closes: Promise<{ code: number; reason: string }> }> {
      const { wss, port } = await startWsServer(defer, { maxPayload: 1 << 20 });
      const got: Got[] = [];
      const closes = new Promise<{ code: number; reason: string }>((resolve) => {
        wss.on("connection", (peer) => {
          peer.on("message", (data: Buffer, isBinary) => got.push(isBinary ? { bytes: Buffer.from(data) } : { text: data.toString() }));
          peer.on("ping", (data) => got.push({ ping: data.toString() }));
          peer.on("close", (code, reason) => resolve({ code, reason: reason.toString() }));
        });
      });
      return { port, got, closes };
    }

    it("one turn of staged and direct sends and pings, then close, arrives whole, in call order, before the close", async () => {
      const peer = await wsPeer();
      const client = await connect(`ws://127.0.0.1:${peer.port}/`);
      defer(() => client.terminate());
      const expected: Got[] = [];
      const big = bytes(STAGE_MAX_PAYLOAD + 1, 5); // sent directly, between staged ones
      let queued = 0;
      for (let i = 0; i < 3; i++) {
        client.send(`c${i}`);
        expected.push({ text: `c${i}` });
        queued += 2;
        const small = bytes(100 + i, i);
        client.send(small);
        expected.push({ bytes: small });
        queued += small.length;
        client.send(big);
        expected.push({ bytes: big });
        queued += big.length;
        client.ping(`p${i}`);
        expected.push({ ping: `p${i}` });
        queued += 2;
        client.send(new Uint8Array(0));
        expected.push({ bytes: Buffer.alloc(0) });
      }
      // Exact and synchronous with staged sends too.
      expect(client.bufferedAmount).toBe(queued);
      client.close(4002, "after the sends");
      const info = await peer.closes;
      expect(info).toEqual({ code: 4002, reason: "after the sends" });
      expect(peer.got).toEqual(expected);
    });

    it("a turn that stages more than the stage holds arrives whole and in order", async () => {
      const peer = await wsPeer();
      const client = await connect(`ws://127.0.0.1:${peer.port}/`);
      defer(() => client.terminate());
      const count = Math.ceil((3 * STAGE_BYTES) / 1000);
      const payloads = Array.from({ length: count }, (_, i) => {
        const payload = bytes(1000, i);
        payload.writeUInt32BE(i, 0);
        return payload;
      });
      for (const payload of payloads) client.send(payload);
      expect(client.bufferedAmount).toBe(count * 1000);
      await waitFor(() => peer.got.length >= count, 10000, "every message");
      expect(peer.got.map((g) => g.bytes!.readUInt32BE(0))).toEqual(Array.from({ length: count }, (_, i) => i));
      expect(peer.got.every((g, i) => g.bytes!.equals(payloads[i]!))).toBe(true);
      await waitFor(() => client.bufferedAmount === 0, 5000, "bufferedAmount back to 0");
    });
  });
});
