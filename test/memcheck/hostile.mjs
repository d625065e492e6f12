// Hostile input for the memory-checked session: raw sockets send malformed frames and closes,
// and each must be answered with the RFC 6455 close code (or end). Exercises the error paths of
// the rx parser (lws patch 0201), lwsnode's UTF-8 and close-payload checks, and the teardown of
// connections that die mid-frame.
import { createHash, randomBytes } from "node:crypto";
import { connect } from "node:net";

function frame(byte0, payload, { mask = true } = {}) {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([byte0, len]) : Buffer.from([byte0, 126, len >> 8, len & 255]);
  if (!mask) return Buffer.concat([head, payload]);
  head[1] |= 0x80;
  const key = randomBytes(4);
  return Buffer.concat([head, key, Buffer.from(payload.map((b, i) => b ^ key[i & 3]))]);
}

const close = (code, reason = Buffer.alloc(0)) => Buffer.concat([Buffer.from([code >> 8, code & 255]), reason]);

/** Upgrades a raw socket, writes `bytes`, resolves with the first close code the server sends (or "end"). */
function session(port, bytes, { reset = false } = {}) {
  return new Promise((resolve, reject) => {
    const key = randomBytes(16).toString("base64");
    const accept = createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
    const s = connect(port, "127.0.0.1");
    const timer = setTimeout(() => (s.destroy(), reject(new Error("hostile session timed out"))), 10_000);
    let buf = Buffer.alloc(0);
    let upgraded = false;
    const done = (v) => {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    s.on("error", () => {});
    s.on("close", () => done("end"));
    s.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        if (!buf.subarray(0, end).toString().includes(accept)) return done("not upgraded");
        upgraded = true;
        buf = buf.subarray(end + 4);
        if (reset) {
          s.write(bytes, () => setTimeout(() => (s.resetAndDestroy(), done("reset")), 20));
          return;
        }
        s.write(bytes);
      }
      if (buf.length >= 4 && (buf[0] & 0x0f) === 0x8) done(buf.readUInt16BE(2));
    });
    s.on("connect", () =>
      s.write(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
  });
}

export async function hostileRound(port) {
  const cases = [
    ["unmasked frame", frame(0x81, Buffer.from("x"), { mask: false }), 1002],
    ["RSV bits", frame(0xc1, Buffer.from("x")), 1002],
    ["reserved opcode", frame(0x8b, Buffer.from("x")), 1002],
    ["fragmented ping", frame(0x09, Buffer.from("x")), 1002],
    ["126-byte ping", frame(0x89, Buffer.alloc(126)), 1002],
    ["orphan continuation", frame(0x80, Buffer.from("x")), 1002],
    ["invalid UTF-8 across fragments", Buffer.concat([frame(0x01, Buffer.from([0xed])), frame(0x80, Buffer.from([0xa0, 0x80]))]), 1007],
    ["one-byte close", frame(0x88, Buffer.from([3])), 1002],
    ["close reason not UTF-8", frame(0x88, close(1000, Buffer.from([0xff]))), 1007],
    ["invalid close code", frame(0x88, close(1005)), 1002],
    ["data after close", Buffer.concat([frame(0x88, close(1000)), frame(0x81, Buffer.from("late"))]), 1000],
    ["64-bit length top bit", Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]), 1002],
  ];
  for (const [name, bytes, want] of cases) {
    const got = await session(port, bytes);
    if (got !== want) throw new Error(`hostile ${name}: expected close ${want}, got ${got}`);
  }
  // Connections that die in the middle of a frame or a fragmented message.
  await session(port, frame(0x82, Buffer.alloc(1000)).subarray(0, 300), { reset: true });
  await session(port, frame(0x01, Buffer.from("half")), { reset: true });
}
