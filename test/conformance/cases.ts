// The server-side conformance cases, in the categories of the Autobahn testsuite. Each case
// drives a raw client against an echo server and says what a conforming server does; run.ts
// grades the outcome strict / non-strict / failed as Autobahn does:
//   strict      exactly the expected frames, the expected close code, TCP closed promptly
//   non-strict  allowed but weaker: a "fail fast" case that closed before echoing what came
//               before the bad frame, a connection dropped without a close frame where the
//               case fails the connection anyway, or a TCP connection left open over 2 s
//   failed      anything else: a frame after the server's Close, a wrong close code, a
//               missing or wrong echo or pong, an unacceptable extension response
import { closePayload, frame, OP } from "../helpers.js";
import type { Session } from "./session.js";

export interface Expected {
  kind: "message" | "pong";
  data: Buffer;
  binary?: boolean;
}

export interface Case {
  id: string;
  category: string;
  title: string;
  /** Sec-WebSocket-Extensions offered by the client. */
  offer?: string;
  /** Run only against servers with permessage-deflate enabled. */
  deflate?: boolean;
  /** Send the case's frames. */
  run(s: Session): Promise<void>;
  /** The messages and pongs a conforming server sends back, in order. */
  expect: Expected[];
  /** Close codes the server may send; "open": the connection stays open (we close with 1000). */
  close: number[] | "open";
  /** The server may fail the connection before echoing everything in `expect` (non-strict). */
  failFast?: boolean;
  /** Extra checks on the handshake; a string is the failure, `{ nonStrict }` a weaker pass. */
  check?(s: Session): string | { nonStrict: string } | undefined;
  /** Refusing the handshake (4xx) instead of declining the offer is non-strict. */
  refusalAllowed?: boolean;
}

export const text = (n: number, c = "*"): Buffer => Buffer.alloc(n, c);
const msg = (data: Buffer | string, binary = false): Expected => ({
  kind: "message",
  data: typeof data === "string" ? Buffer.from(data) : data,
  binary,
});
const pong = (data: Buffer | string): Expected => ({
  kind: "pong",
  data: typeof data === "string" ? Buffer.from(data) : data,
});
const f = frame;
const send = (...frames: Buffer[]) => async (s: Session): Promise<void> => s.write(...frames);
const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const MAX_PAYLOAD = 1 << 20;

const cases: Case[] = [];
const add = (c: Case): void => {
  cases.push(c);
};

// ---- 1 framing ----
for (const n of [0, 125, 126, 127, 128, 65535, 65536]) {
  add({ id: `1.1 text ${n}`, category: "framing", title: `text message of ${n} bytes`, run: send(f({ opcode: OP.TEXT, payload: text(n) })), expect: [msg(text(n))], close: "open" });
  add({ id: `1.2 binary ${n}`, category: "framing", title: `binary message of ${n} bytes`, run: send(f({ opcode: OP.BINARY, payload: text(n, "\xfe") })), expect: [msg(text(n, "\xfe"), true)], close: "open" });
}
add({
  id: "1.1 text chopped",
  category: "framing",
  title: "a 65535-byte text message written in chunks of 997 bytes",
  run: (s) => s.writeChopped(f({ opcode: OP.TEXT, payload: text(65535) }), 997),
  expect: [msg(text(65535))],
  close: "open",
});
add({
  id: "1.3 many in one write",
  category: "framing",
  title: "100 small messages in one TCP write come back in order",
  run: send(...Array.from({ length: 100 }, (_, i) => f({ opcode: OP.TEXT, payload: `m${i}` }))),
  expect: Array.from({ length: 100 }, (_, i) => msg(`m${i}`)),
  close: "open",
});
add({
  id: "1.4 unmasked",
  category: "framing",
  title: "an unmasked client frame fails the connection",
  run: send(f({ opcode: OP.TEXT, payload: "hello", mask: false })),
  expect: [],
  close: [1002],
});

// ---- 2 pings and pongs ----
add({ id: "2.1 ping empty", category: "ping/pong", title: "a ping without payload is answered", run: send(f({ opcode: OP.PING })), expect: [pong("")], close: "open" });
add({ id: "2.2 ping text", category: "ping/pong", title: "a ping's payload comes back in the pong", run: send(f({ opcode: OP.PING, payload: "Hello, world!" })), expect: [pong("Hello, world!")], close: "open" });
add({ id: "2.3 ping binary", category: "ping/pong", title: "a binary ping payload", run: send(f({ opcode: OP.PING, payload: Buffer.from([0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff]) })), expect: [pong(Buffer.from([0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff]))], close: "open" });
add({ id: "2.4 ping 125", category: "ping/pong", title: "a ping of 125 bytes (the largest)", run: send(f({ opcode: OP.PING, payload: text(125, "\xfe") })), expect: [pong(text(125, "\xfe"))], close: "open" });
add({ id: "2.5 ping 126", category: "ping/pong", title: "a ping of 126 bytes fails the connection", run: send(f({ opcode: OP.PING, payload: text(126) })), expect: [], close: [1002] });
add({ id: "2.6 ping chopped", category: "ping/pong", title: "a ping written one byte at a time", run: (s) => s.writeChopped(f({ opcode: OP.PING, payload: text(125) }), 1), expect: [pong(text(125))], close: "open" });
add({ id: "2.7 unsolicited pong", category: "ping/pong", title: "an unsolicited pong is ignored", run: send(f({ opcode: OP.PONG, payload: "unsolicited" }), f({ opcode: OP.TEXT, payload: "after" })), expect: [msg("after")], close: "open" });
add({ id: "2.8 pong then ping", category: "ping/pong", title: "an unsolicited pong, then a ping", run: send(f({ opcode: OP.PONG, payload: "unsolicited" }), f({ opcode: OP.PING, payload: "ping" })), expect: [pong("ping")], close: "open" });
add({
  id: "2.10 ten pings",
  category: "ping/pong",
  title: "ten pings in a row are each answered, in order",
  run: send(...Array.from({ length: 10 }, (_, i) => f({ opcode: OP.PING, payload: `payload-${i}` }))),
  expect: Array.from({ length: 10 }, (_, i) => pong(`payload-${i}`)),
  close: "open",
});
add({
  id: "2.11 ten pings chopped",
  category: "ping/pong",
  title: "ten pings written in small pieces are each answered",
  run: (s) => s.writeChopped(Buffer.concat(Array.from({ length: 10 }, (_, i) => f({ opcode: OP.PING, payload: `payload-${i}` }))), 3),
  expect: Array.from({ length: 10 }, (_, i) => pong(`payload-${i}`)),
  close: "open",
});

// ---- 3 reserved bits ----
for (const [rsv, op, name] of [
  [1, OP.TEXT, "RSV3 on text"],
  [2, OP.TEXT, "RSV2 on text"],
  [3, OP.TEXT, "RSV2+RSV3 on text"],
  [4, OP.TEXT, "RSV1 on text (no extension)"],
  [5, OP.BINARY, "RSV1+RSV3 on binary"],
  [6, OP.PING, "RSV1+RSV2 on ping"],
  [7, OP.CLOSE, "all RSV bits on close"],
] as const) {
  add({
    id: `3 ${name}`,
    category: "reserved bits",
    title: `a message, then a frame with ${name}, then a ping: the echo, then 1002 and no pong`,
    run: send(f({ opcode: OP.TEXT, payload: "Hello" }), f({ opcode: op, rsv, payload: op === OP.CLOSE ? closePayload(1000) : "x" }), f({ opcode: OP.PING })),
    expect: [msg("Hello")],
    close: [1002],
    failFast: true,
  });
}

// ---- 4 opcodes ----
for (const op of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
  add({
    id: `4 opcode ${op}`,
    category: "opcodes",
    title: `a message, then reserved opcode ${op}, then a ping: the echo, then 1002 and no pong`,
    run: send(f({ opcode: OP.TEXT, payload: "Hello" }), f({ opcode: op, payload: op < 8 ? "payload" : "" }), f({ opcode: OP.PING })),
    expect: [msg("Hello")],
    close: [1002],
    failFast: true,
  });
}

// ---- 5 fragmentation ----
add({ id: "5.1 fragmented ping", category: "fragmentation", title: "a ping in two fragments fails", run: send(f({ opcode: OP.PING, fin: false, payload: "frag1" }), f({ opcode: OP.CONT, payload: "frag2" })), expect: [], close: [1002] });
add({ id: "5.2 fragmented pong", category: "fragmentation", title: "a pong in two fragments fails", run: send(f({ opcode: OP.PONG, fin: false, payload: "frag1" }), f({ opcode: OP.CONT, payload: "frag2" })), expect: [], close: [1002] });
add({ id: "5.3 text in 2", category: "fragmentation", title: "a text message in two fragments", run: send(f({ opcode: OP.TEXT, fin: false, payload: "frag1" }), f({ opcode: OP.CONT, payload: "frag2" })), expect: [msg("frag1frag2")], close: "open" });
add({ id: "5.4 binary in 3 with pings", category: "fragmentation", title: "a binary message in three fragments with a ping between each", run: send(f({ opcode: OP.BINARY, fin: false, payload: "a" }), f({ opcode: OP.PING, payload: "p1" }), f({ opcode: OP.CONT, fin: false, payload: "b" }), f({ opcode: OP.PING, payload: "p2" }), f({ opcode: OP.CONT, payload: "c" })), expect: [pong("p1"), pong("p2"), msg("abc", true)], close: "open" });
add({ id: "5.5 one-byte fragments", category: "fragmentation", title: "a text message in one-byte fragments, written chopped", run: (s) => s.writeChopped(Buffer.concat([f({ opcode: OP.TEXT, fin: false, payload: "f" }), ...[..."ragment"].map((c, i, a) => f({ opcode: OP.CONT, fin: i === a.length - 1, payload: c }))]), 1), expect: [msg("fragment")], close: "open" });
add({ id: "5.6 continuation alone", category: "fragmentation", title: "a message, then a continuation with nothing to continue", run: send(f({ opcode: OP.TEXT, payload: "Hello" }), f({ opcode: OP.CONT, payload: "x" }), f({ opcode: OP.PING })), expect: [msg("Hello")], close: [1002], failFast: true });
add({ id: "5.7 continuation fin alone", category: "fragmentation", title: "a final continuation with nothing to continue", run: send(f({ opcode: OP.CONT, payload: "x" })), expect: [], close: [1002] });
add({ id: "5.8 text inside fragmented", category: "fragmentation", title: "a new text frame while a fragmented message is open fails", run: send(f({ opcode: OP.TEXT, fin: false, payload: "a" }), f({ opcode: OP.TEXT, payload: "b" })), expect: [], close: [1002] });
add({ id: "5.9 empty fragments", category: "fragmentation", title: "a text message of three empty fragments", run: send(f({ opcode: OP.TEXT, fin: false }), f({ opcode: OP.CONT, fin: false }), f({ opcode: OP.CONT })), expect: [msg("")], close: "open" });

// ---- 6 UTF-8 ----
const validUtf8 = ["Hello-µ@ßöäüàá-UTF-8!!", "κόσμε", "\u{10ffff}", "\u{fffd}", "\u{7ff}\u{800}\u{ffff}\u{10000}"];
validUtf8.forEach((t, i) => {
  add({ id: `6.1.${i} valid`, category: "UTF-8", title: `valid text ${JSON.stringify(t)}`, run: send(f({ opcode: OP.TEXT, payload: t })), expect: [msg(t)], close: "open" });
  const b = Buffer.from(t);
  add({
    id: `6.2.${i} valid split`,
    category: "UTF-8",
    title: "valid text split into one-byte fragments (inside code points)",
    run: send(...[...b].map((byte, j) => f({ opcode: j === 0 ? OP.TEXT : OP.CONT, fin: j === b.length - 1, payload: Buffer.from([byte]) }))),
    expect: [msg(b)],
    close: "open",
  });
});
const invalidUtf8: [string, number[]][] = [
  ["lone continuation", [0x80]],
  ["overlong slash", [0xc0, 0xaf]],
  ["overlong NUL", [0xe0, 0x80, 0x80]],
  ["surrogate", [0xed, 0xa0, 0x80]],
  ["above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
  ["0xFE", [0xfe]],
  ["0xFF", [0xff]],
  ["truncated", [0x68, 0xe2, 0x82]],
  ["5-byte form", [0xf8, 0x88, 0x80, 0x80, 0x80]],
];
for (const [name, bytes] of invalidUtf8) {
  add({ id: `6.3 ${name}`, category: "UTF-8", title: `invalid UTF-8 (${name}) closes with 1007`, run: send(f({ opcode: OP.TEXT, payload: Buffer.from([0x61, ...bytes]) })), expect: [], close: [1007] });
  add({
    id: `6.4 ${name} fragmented`,
    category: "UTF-8",
    title: `invalid UTF-8 (${name}) in the first of three fragments: 1007, maybe before the rest`,
    run: async (s) => {
      s.write(f({ opcode: OP.TEXT, fin: false, payload: Buffer.from([0x61, ...bytes, 0x61]) }));
      await tick(20);
      s.write(f({ opcode: OP.CONT, fin: false, payload: "b" }), f({ opcode: OP.CONT, payload: "c" }));
    },
    expect: [],
    close: [1007],
  });
}
add({ id: "6.5 invalid close reason", category: "UTF-8", title: "a close reason that is not UTF-8 gets 1007", run: send(f({ opcode: OP.CLOSE, payload: Buffer.concat([closePayload(1000), Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64])]) })), expect: [], close: [1007] });

// ---- 7 close handling ----
// A server may close before answering what preceded the peer's close (non-strict); the issue
// asks lwsnode to answer first, as ws and uWebSockets.js do.
add({ id: "7.1.1 message then close", category: "close", title: "a message then a close: the echo comes before the reply close", run: send(f({ opcode: OP.TEXT, payload: "Hello World!" }), f({ opcode: OP.CLOSE, payload: closePayload(1000) })), expect: [msg("Hello World!")], close: [1000], failFast: true });
add({ id: "7.1.2 close then message", category: "close", title: "nothing after the peer's close is answered", run: send(f({ opcode: OP.CLOSE, payload: closePayload(1000) }), f({ opcode: OP.TEXT, payload: "after close" }), f({ opcode: OP.PING, payload: "after close" })), expect: [], close: [1000] });
add({ id: "7.1.3 two closes", category: "close", title: "a second close is ignored", run: send(f({ opcode: OP.CLOSE, payload: closePayload(1000) }), f({ opcode: OP.CLOSE, payload: closePayload(1001) })), expect: [], close: [1000] });
add({ id: "7.1.4 close mid-fragments", category: "close", title: "a close between the fragments of a message", run: send(f({ opcode: OP.TEXT, fin: false, payload: "frag" }), f({ opcode: OP.CLOSE, payload: closePayload(1000) }), f({ opcode: OP.CONT, payload: "ment" })), expect: [], close: [1000] });
add({ id: "7.1.5 ten messages then close", category: "close", title: "ten messages and a close in one write: ten echoes, then the close", run: send(...Array.from({ length: 10 }, (_, i) => f({ opcode: OP.TEXT, payload: `r${i}` })), f({ opcode: OP.CLOSE, payload: closePayload(1000) })), expect: Array.from({ length: 10 }, (_, i) => msg(`r${i}`)), close: [1000], failFast: true });
// 1005 stands for a reply without payload (RFC 6455 7.1.5).
add({ id: "7.3.1 empty close", category: "close", title: "a close without payload is answered (empty or 1000)", run: send(f({ opcode: OP.CLOSE })), expect: [], close: [1000, 1005] });
add({ id: "7.3.2 one-byte close", category: "close", title: "a close payload of one byte fails", run: send(f({ opcode: OP.CLOSE, payload: Buffer.from([0x03]) })), expect: [], close: [1002] });
add({ id: "7.3.3 close with reason", category: "close", title: "a close with code 1000 and a reason", run: send(f({ opcode: OP.CLOSE, payload: closePayload(1000, "Hello World!") })), expect: [], close: [1000] });
add({ id: "7.3.4 close reason 123", category: "close", title: "a close with the longest reason (123 bytes)", run: send(f({ opcode: OP.CLOSE, payload: closePayload(1000, "*".repeat(123)) })), expect: [], close: [1000] });
add({ id: "7.3.5 close 126", category: "close", title: "a close payload of 126 bytes fails", run: send(f({ opcode: OP.CLOSE, payload: closePayload(1000, "*".repeat(124)) })), expect: [], close: [1002] });
for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]) {
  add({ id: `7.7 code ${code}`, category: "close codes", title: `a close with valid code ${code} is answered with it`, run: send(f({ opcode: OP.CLOSE, payload: closePayload(code) })), expect: [], close: [code, 1000] });
}
for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) {
  add({ id: `7.9 code ${code}`, category: "close codes", title: `a close with invalid code ${code} gets 1002`, run: send(f({ opcode: OP.CLOSE, payload: closePayload(code) })), expect: [], close: [1002] });
}

// ---- 9 limits ----
add({ id: "9.1 1 MiB text", category: "limits", title: "a text message at maxPayloadLength (1 MiB)", run: send(f({ opcode: OP.TEXT, payload: text(MAX_PAYLOAD) })), expect: [msg(text(MAX_PAYLOAD))], close: "open" });
add({ id: "9.2 1 MiB in 64 fragments", category: "limits", title: "a binary message of 1 MiB in 64 fragments", run: send(...Array.from({ length: 64 }, (_, i) => f({ opcode: i ? OP.CONT : OP.BINARY, fin: i === 63, payload: text(MAX_PAYLOAD / 64, "b") }))), expect: [msg(text(MAX_PAYLOAD, "b"), true)], close: "open" });
add({ id: "9.3 too big", category: "limits", title: "a message over maxPayloadLength gets 1009", run: send(f({ opcode: OP.BINARY, payload: text(MAX_PAYLOAD + 1) })), expect: [], close: [1009] });
add({
  id: "9.4 too big, still arriving",
  category: "limits",
  title: "1009 while an announced 4 MiB frame is still arriving, and the connection ends promptly",
  run: async (s) => {
    const big = f({ opcode: OP.BINARY, payload: text(4 * MAX_PAYLOAD) });
    s.write(big.subarray(0, 64 * 1024));  // header announces 4 MiB; the rest trickles
    for (let i = 1; i < 8 && s.closeAt === undefined; i++) {
      await tick(20);
      s.write(big.subarray(i * 64 * 1024, (i + 1) * 64 * 1024));
    }
  },
  expect: [],
  close: [1009],
});
add({ id: "9.5 too big fragmented", category: "limits", title: "fragments adding up to more than maxPayloadLength get 1009", run: send(...Array.from({ length: 5 }, (_, i) => f({ opcode: i ? OP.CONT : OP.TEXT, fin: i === 4, payload: text(MAX_PAYLOAD / 4) }))), expect: [], close: [1009] });

// ---- 12/13 permessage-deflate ----
// Every combination of RFC 7692's four parameters (windows sampled at 8, 9, 12, 15), each
// checked for a consistent answer, then three compressed messages each way (context takeover
// or not, as agreed).
const windows = [undefined, 8, 9, 12, 15];
const clientWindows: (number | "" | undefined)[] = [undefined, "", 8, 9, 12, 15];
for (const snct of [false, true])
  for (const cnct of [false, true])
    for (const smwb of windows)
      for (const cmwb of clientWindows) {
        const params = [
          snct && "server_no_context_takeover",
          cnct && "client_no_context_takeover",
          smwb !== undefined && `server_max_window_bits=${smwb}`,
          cmwb !== undefined && (cmwb === "" ? "client_max_window_bits" : `client_max_window_bits=${cmwb}`),
        ].filter(Boolean);
        const offer = ["permessage-deflate", ...params].join("; ");
        // Under 1 KiB inflated: these cases test negotiation and windows, not the known issue
        // of libwebsockets' inflater with larger messages (README, Conformance).
        const payloads = [text(900, "a"), Buffer.from("abc".repeat(300)), text(900, "a")];
        add({
          id: `12 ${params.join(" ") || "(no parameters)"}`,
          category: "deflate negotiation",
          title: `offer "${offer}": accepted consistently, then compressed messages both ways`,
          offer,
          deflate: true,
          // One at a time, each echo awaited.
          run: async (s) => {
            for (const [i, p] of payloads.entries()) {
              s.write(f({ opcode: OP.TEXT, rsv: 4, payload: await s.codec!.compress(p) }));
              await s.until(() => s.messages().length > i || s.closeAt !== undefined || s.endedAt !== undefined, 2000);
            }
          },
          expect: payloads.map((p) => msg(p)),
          close: "open",
          check: (s) => {
            const a = s.pmd;
            if (!a) return "offer declined";
            if (smwb !== undefined && (a.serverMaxWindowBits === undefined || a.serverMaxWindowBits > smwb))
              return `server_max_window_bits=${smwb} asked, answered ${a.serverMaxWindowBits}`;
            if (snct && !a.serverNoContextTakeover) return "server_no_context_takeover not confirmed";
            if (a.clientMaxWindowBits !== undefined && cmwb === undefined) return "client_max_window_bits not offered but answered";
            if (a.clientMaxWindowBits !== undefined && typeof cmwb === "number" && a.clientMaxWindowBits > cmwb) return "client window above the offer";
            return undefined;
          },
        });
      }
for (const [name, offer] of [
  ["unknown parameter", "permessage-deflate; foo=1"],
  ["duplicate parameter", "permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
  ["value on server_no_context_takeover", "permessage-deflate; server_no_context_takeover=1"],
  ["value on client_no_context_takeover", "permessage-deflate; client_no_context_takeover=true"],
  ["server window 7", "permessage-deflate; server_max_window_bits=7"],
  ["server window 16", "permessage-deflate; server_max_window_bits=16"],
  ["server window 08", "permessage-deflate; server_max_window_bits=08"],
  ["server window without value", "permessage-deflate; server_max_window_bits"],
  ["client window 16", "permessage-deflate; client_max_window_bits=16"],
  ["client window 0", "permessage-deflate; client_max_window_bits=0"],
] as const) {
  add({
    id: `12.9 declined: ${name}`,
    category: "deflate negotiation",
    title: `an offer with ${name} is declined; the connection runs uncompressed`,
    offer,
    deflate: true,
    run: send(f({ opcode: OP.TEXT, payload: text(2000) })),
    expect: [msg(text(2000))],
    close: "open",
    refusalAllowed: true,
    check: (s) => (s.pmd ? { nonStrict: `accepted an offer to decline: ${s.responseHeaders.get("sec-websocket-extensions")}` } : undefined),
  });
  add({
    id: `12.10 next offer after ${name}`,
    category: "deflate negotiation",
    title: `an offer with ${name}, then a valid one: the valid one is accepted`,
    offer: `${offer}, permessage-deflate; client_no_context_takeover`,
    deflate: true,
    run: async (s) => {
      if (s.codec) s.write(f({ opcode: OP.TEXT, rsv: 4, payload: await s.codec.compress(text(2000)) }));
    },
    expect: [msg(text(2000))],
    close: "open",
    refusalAllowed: true,
    check: (s) =>
      s.pmd?.clientNoContextTakeover
        ? undefined
        : s.pmd
          ? { nonStrict: `accepted the offer to decline: ${s.responseHeaders.get("sec-websocket-extensions")}` }
          : `declined both: ${s.responseHeaders.get("sec-websocket-extensions")}`,
  });
}
add({ id: "12.11 unknown extension", category: "deflate negotiation", title: "an unknown extension is ignored", offer: "x-webkit-deflate-frame", deflate: true, run: send(f({ opcode: OP.TEXT, payload: "plain" })), expect: [msg("plain")], close: "open", check: (s) => (s.responseHeaders.has("sec-websocket-extensions") ? "answered an unknown extension" : undefined) });

const PMD = "permessage-deflate";
for (const n of [0, 1, 100, 1024, 5000, 65536, 300_000]) {
  add({
    id: `13.1 compressed ${n}`,
    category: "deflate payloads",
    title: `a compressed text message of ${n} bytes`,
    offer: PMD,
    deflate: true,
    run: async (s) => s.write(f({ opcode: OP.TEXT, rsv: 4, payload: await s.codec!.compress(text(n, "x")) })),
    expect: [msg(text(n, "x"))],
    close: "open",
  });
}
add({
  id: "13.2 compressed fragmented",
  category: "deflate payloads",
  title: "a compressed message in three fragments, RSV1 on the first only",
  offer: PMD,
  deflate: true,
  run: async (s) => {
    const c = await s.codec!.compress(Buffer.from("fragmented and compressed ".repeat(100)));
    const a = Math.floor(c.length / 3);
    s.write(f({ opcode: OP.TEXT, rsv: 4, fin: false, payload: c.subarray(0, a) }), f({ opcode: OP.CONT, fin: false, payload: c.subarray(a, 2 * a) }), f({ opcode: OP.CONT, payload: c.subarray(2 * a) }));
  },
  expect: [msg("fragmented and compressed ".repeat(100))],
  close: "open",
});
add({
  id: "13.3 mixed",
  category: "deflate payloads",
  title: "compressed and uncompressed messages interleaved keep the shared context",
  offer: PMD,
  deflate: true,
  run: async (s) => {
    const c1 = await s.codec!.compress(text(2000, "m"));
    const c2 = await s.codec!.compress(text(2000, "m"));
    s.write(f({ opcode: OP.TEXT, rsv: 4, payload: c1 }), f({ opcode: OP.TEXT, payload: "plain" }), f({ opcode: OP.BINARY, rsv: 4, payload: c2 }));
  },
  expect: [msg(text(2000, "m")), msg("plain"), msg(text(2000, "m"), true)],
  close: "open",
});
add({
  id: "13.4 RSV1 on continuation",
  category: "deflate payloads",
  title: "RSV1 on a continuation frame fails with 1002",
  offer: PMD,
  deflate: true,
  run: async (s) => {
    const c = await s.codec!.compress(text(2000, "r"));
    s.write(f({ opcode: OP.TEXT, rsv: 4, fin: false, payload: c.subarray(0, 5) }), f({ opcode: OP.CONT, rsv: 4, payload: c.subarray(5) }));
  },
  expect: [],
  close: [1002],
});
add({ id: "13.5 RSV1 on ping", category: "deflate payloads", title: "RSV1 on a ping fails with 1002", offer: PMD, deflate: true, run: send(f({ opcode: OP.PING, rsv: 4, payload: "p" })), expect: [], close: [1002] });
add({ id: "13.6 RSV1 on close", category: "deflate payloads", title: "RSV1 on a close fails with 1002", offer: PMD, deflate: true, run: send(f({ opcode: OP.CLOSE, rsv: 4, payload: closePayload(1000) })), expect: [], close: [1002] });
add({ id: "13.7 bad deflate data", category: "deflate payloads", title: "a compressed payload that does not inflate fails the connection", offer: PMD, deflate: true, run: send(f({ opcode: OP.TEXT, rsv: 4, payload: Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]) })), expect: [], close: [1002, 1007] });
add({
  id: "13.8 compressed invalid UTF-8",
  category: "deflate payloads",
  title: "invalid UTF-8 inside a compressed text closes with 1007",
  offer: PMD,
  deflate: true,
  run: async (s) => s.write(f({ opcode: OP.TEXT, rsv: 4, payload: await s.codec!.compress(Buffer.from([0x61, 0xed, 0xa0, 0x80])) })),
  expect: [],
  close: [1007],
});
add({
  id: "13.9 zip bomb",
  category: "deflate payloads",
  title: "a small compressed message inflating past maxPayloadLength gets 1009",
  offer: PMD,
  deflate: true,
  run: async (s) => s.write(f({ opcode: OP.BINARY, rsv: 4, payload: await s.codec!.compress(Buffer.alloc(4 * MAX_PAYLOAD)) })),
  expect: [],
  close: [1009],
});
add({
  id: "13.10 message then close, compressed",
  category: "deflate payloads",
  title: "a compressed message then a close: the echo comes first",
  offer: PMD,
  deflate: true,
  run: async (s) => s.write(f({ opcode: OP.TEXT, rsv: 4, payload: await s.codec!.compress(text(3000, "q")) }), f({ opcode: OP.CLOSE, payload: closePayload(1000) })),
  expect: [msg(text(3000, "q"))],
  close: [1000],
  failFast: true,
});

export const SERVER_CASES: readonly Case[] = cases;
