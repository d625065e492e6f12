// A short, complete echo session for memory checkers (ASan/valgrind): a server, a few
// clients exchanging text, binary, fragmented and large messages, a server-side close, a
// terminate, and the ordered shutdown. Exits 0 when every echo matched.
import { createServer } from "../../dist/index.js";
import WebSocket from "ws";

const server = await createServer({
  port: 0,
  host: "127.0.0.1",
  message(ws, data, isBinary) {
    if (!isBinary && data.toString() === "close-me") return ws.close(4000, "asked");
    if (!isBinary && data.toString() === "kill-me") return ws.terminate();
    ws.send(data, isBinary);
  },
});
const url = `ws://127.0.0.1:${server.port}/`;

function client() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
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

const clients = await Promise.all([client(), client(), client()]);
for (const [i, ws] of clients.entries()) {
  for (let n = 0; n < 50; n++) await echo(ws, `hello ${i} ${n}`, false);
  await echo(ws, Buffer.alloc(100_000, i), true); // a large message, own allocation
  await echo(ws, Buffer.alloc(0), true);
}
// Fragmented message reassembled natively.
await new Promise((resolve) => {
  clients[0].once("message", resolve);
  clients[0].send("part-1 ", { fin: false });
  clients[0].send("part-2", { fin: true });
});
const closed = (ws) => new Promise((resolve) => ws.once("close", (code) => resolve(code)));
const c1 = closed(clients[1]);
clients[1].send("close-me");
{ const code = await c1; if (code !== 4000) throw new Error(`expected 4000, got ${code}`); }
const c2 = closed(clients[2]);
clients[2].send("kill-me");
if ((await c2) !== 1006) throw new Error("expected 1006");
const c0 = closed(clients[0]);
await server.close();
if ((await c0) !== 1001) throw new Error("expected 1001");
console.log("echo session ok");
