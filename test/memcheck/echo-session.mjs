// A short, complete session for memory checkers (ASan/valgrind): a server, a few clients
// exchanging text, binary, fragmented and large (natively fragmented) messages, pub/sub with a
// shared frame, pings, a slow consumer closed by the backpressure policy, a server-side close,
// a terminate, our own client (masked text, binary and fragmented sends, permessage-deflate
// inbound, the WHATWG WebSocket, a refused and an aborted connect), hostile frames from raw
// sockets (hostile.mjs), a mutual-TLS wss:// round (tls-session.mjs), and the ordered shutdown. Exits 0 when everything arrived as sent and
// every hostile frame got its close code. Two `ws` clients negotiate permessage-deflate with
// the server (compressed echoes, a shared compressed publish), one does not. A socket adopted
// from a node:http server (an attached server) echoes too.
import { randomBytes } from "node:crypto";
import { createServer as createHttpServer } from "node:http";
import { connect, createServer, WebSocket as LwsWebSocket } from "../../dist/index.js";
import WebSocket, { WebSocketServer } from "ws";
import { hostileRound } from "./hostile.mjs";
import { tlsRound } from "./tls-session.mjs";

const pongs = [];
const server = await createServer({
  port: 0,
  host: "127.0.0.1",
  maxBackpressure: 256 * 1024,
  closeOnBackpressureLimit: true,
  closeTimeout: 500,
  perMessageDeflate: { threshold: 64 },
  open(ws) {
    ws.subscribe("all");
  },
  message(ws, data, isBinary) {
    const text = isBinary ? "" : data.toString();
    if (text === "close-me") return ws.close(4000, "asked");
    if (text === "kill-me") return ws.terminate();
    if (text === "ping-me") return ws.ping("hello");
    if (text.startsWith("publish:")) return ws.publish("all", text.slice(8));
    if (text === "join-slow") return ws.subscribe("slow");
    ws.send(data, isBinary);
  },
  pong(ws, data) {
    pongs.push(data.toString());
  },
});
const url = `ws://127.0.0.1:${server.port}/`;

function client(deflate = true) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: deflate });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

async function echo(ws, payload, binary) {
  const got = new Promise((resolve) => ws.once("message", (d, isBinary) => resolve([d, isBinary])));
  ws.send(payload, { binary, fin: true });
  const [data, isBinary] = await got;
  if (isBinary !== binary || Buffer.compare(Buffer.from(data), Buffer.from(payload)) !== 0) {
    throw new Error(`echo mismatch (${payload.length} bytes)`);
  }
}

const clients = await Promise.all([client(), client(), client(false)]);
for (const [i, ws] of clients.entries()) {
  for (let n = 0; n < 50; n++) await echo(ws, `hello ${i} ${n}`, false);
  await echo(ws, Buffer.alloc(100_000, i), true); // a large message, own allocation
  await echo(ws, Buffer.alloc(600_000, i + 1), true); // leaves the server in fragments
  await echo(ws, Buffer.alloc(0), true);
}
// Compressed to more than one 256 KiB fragment (random base64 shrinks to about 3/4).
await echo(clients[0], Buffer.from(Buffer.alloc(900_000).map(() => Math.random() * 256).toString("base64")), false);
// Pub/sub: one frame shared by the two other subscribers.
{
  const got = Promise.all([1, 2].map((i) => new Promise((resolve) => clients[i].once("message", (d) => resolve(d.toString())))));
  clients[0].send("publish:news");
  const texts = await got;
  if (texts.some((t) => t !== "news")) throw new Error(`publish mismatch: ${texts}`);
}
// A ping with a payload, answered by the ws client.
clients[0].send("ping-me");
// (Under valgrind on a loaded machine the session may pass the 60 s mark of the keepalive:
// the answers to the automatic pings ("ping") may come first.)
for (let i = 0; i < 500 && !pongs.includes("hello"); i++) await new Promise((r) => setTimeout(r, 10));
if (pongs.filter((p) => p !== "ping")[0] !== "hello") throw new Error(`expected the pong "hello", got ${pongs}`);
// A consumer that stops reading is closed by the backpressure policy (its queue is freed).
{
  const slow = await client();
  await new Promise((resolve) => {
    slow.once("message", resolve); // the echo proves "join-slow" was applied first
    slow.send("join-slow");
    slow.send("ready");
  });
  slow._socket.pause();
  const big = randomBytes(64 * 1024); // incompressible: fills the socket buffers even compressed
  // Written at once, the publishes first fill the kernel's socket buffers (several MiB on
  // loopback, autotuned); only then does the queue grow past maxBackpressure.
  for (let i = 0; i < 1024 && server.stats().dropped === 0; i++) {
    server.publish("slow", big);
    await new Promise((r) => setTimeout(r, 5));
  }
  if (server.stats().dropped === 0) throw new Error("the slow consumer never hit maxBackpressure");
  slow._socket.destroy();
}
// Fragmented message reassembled natively.
await new Promise((resolve) => {
  clients[0].once("message", resolve);
  clients[0].send("part-1 ", { fin: false });
  clients[0].send("part-2", { fin: true });
});
// Malformed frames and closes from raw sockets, each answered with its RFC 6455 close code.
await hostileRound(server.port);
const closed = (ws) => new Promise((resolve) => ws.once("close", (code) => resolve(code)));
const c1 = closed(clients[1]);
clients[1].send("close-me");
{ const code = await c1; if (code !== 4000) throw new Error(`expected 4000, got ${code}`); }
const c2 = closed(clients[2]);
clients[2].send("kill-me");
if ((await c2) !== 1006) throw new Error("expected 1006");
// Our client on the same reactor: masked frames, a fragmented large one, a ping.
const own = await connect(url);
const ownEcho = (payload) =>
  new Promise((resolve, reject) => {
    own.once("message", (data) => (Buffer.compare(data, Buffer.from(payload)) === 0 ? resolve() : reject(new Error("own client: wrong echo"))));
    own.send(payload);
  });
await ownEcho("from our client");
await ownEcho(Buffer.alloc(600 * 1024, 9));
own.ping("own");
// Failed connects free their native state: refused, and aborted by close() while connecting.
await connect("ws://127.0.0.1:1/").then(() => { throw new Error("expected a refused connect"); }, () => {});
await new Promise((resolve) => {
  const w = new LwsWebSocket(url);
  w.onclose = resolve;
  w.close();
});
// The WHATWG WebSocket: open, echo, close.
await new Promise((resolve, reject) => {
  const w = new LwsWebSocket(url);
  w.onopen = () => w.send("whatwg");
  w.onmessage = (e) => (e.data === "whatwg" ? w.close() : reject(new Error("whatwg: wrong echo")));
  w.onclose = (e) => (e.code === 1005 ? resolve() : reject(new Error(`whatwg close ${e.code}`))); // close() without a code sends none
});
// permessage-deflate: the ws server compresses, lws inflates.
const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: { threshold: 0 } });
await new Promise((resolve) => wss.once("listening", resolve));
wss.on("connection", (s) => s.on("message", (d, b) => s.send(d, { binary: b, compress: true })));
const deflated = await connect(`ws://127.0.0.1:${wss.address().port}/`, { perMessageDeflate: true });
await new Promise((resolve, reject) => {
  deflated.once("message", (d) => (d.toString() === "z".repeat(100_000) ? resolve() : reject(new Error("pmd: wrong echo"))));
  deflated.send("z".repeat(100_000));
});
const deflatedClosed = new Promise((resolve) => deflated.once("close", resolve));
deflated.close();
await deflatedClosed;
await new Promise((resolve) => wss.close(resolve));
await tlsRound();

// Attached to a node:http server: the socket is adopted by the I/O thread with the request
// Node read, echoes, and closes with 1001 when the attached server closes.
const http = createHttpServer((req, res) => res.end("app"));
const attached = await createServer({ server: http, path: "/ws", message(ws, data, isBinary) { ws.send(data, isBinary); } });
await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
{
  const ws = new WebSocket(`ws://127.0.0.1:${http.address().port}/ws`);
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
  await echo(ws, Buffer.alloc(300_000, 5), true);
  const gone = closed(ws);
  await attached.close();
  if ((await gone) !== 1001) throw new Error("attached: expected 1001");
  await new Promise((resolve) => http.close(resolve));
}

const c0 = closed(clients[0]);
const ownClosed = new Promise((resolve) => own.once("close", (code) => resolve(code)));
await server.close();
if ((await c0) !== 1001) throw new Error("expected 1001");
if ((await ownClosed) !== 1001) throw new Error("our client: expected 1001");
console.log("echo session ok");
