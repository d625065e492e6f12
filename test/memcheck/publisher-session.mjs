// Memory-checker session for producer threads (createPublisher): a worker publishes to a
// server's subscribers, a second worker is terminated while it floods, the server closes while
// a third still publishes (its calls then return false), and a handle of the closed server
// opens a dead publisher. Exits 0 and prints "publisher session ok" when all of that held.
//   LWSNODE_ADDON=… valgrind … node --jitless test/memcheck/publisher-session.mjs
import { Worker } from "node:worker_threads";
import WebSocket from "ws";
import { createPublisher, createServer } from "../../dist/index.js";

const WORKER = new URL("../fixtures/publisher-worker.mjs", import.meta.url);
const fail = (msg) => {
  console.error(`publisher session: ${msg}`);
  process.exit(1);
};
const nextFrom = (worker) => new Promise((resolve) => worker.once("message", resolve));

const server = await createServer({ port: 0, host: "127.0.0.1", open: (ws) => void ws.subscribe("t") });
const client = new WebSocket(`ws://127.0.0.1:${server.port}/`);
const got = [];
client.on("message", (data, isBinary) => got.push(isBinary ? data.readUInt32BE(0) : Number(data.toString())));
await new Promise((resolve) => client.once("open", resolve));
while (server.subscriberCount("t") === 0) await new Promise((r) => setTimeout(r, 5));
const handle = server.publisherHandle();

const burst = new Worker(WORKER, { workerData: { handle, mode: "burst", count: 50 } });
await nextFrom(burst);
burst.postMessage("go");
await nextFrom(burst);
while (got.length < 50) await new Promise((r) => setTimeout(r, 10));
if (got.some((seq, i) => seq !== i)) fail(`out of order: ${got}`);

const flood = new Worker(WORKER, { workerData: { handle, mode: "flood" } });
await nextFrom(flood);
await new Promise((r) => setTimeout(r, 200));
await flood.terminate();

const late = new Worker(WORKER, { workerData: { handle, mode: "until-closed" } });
await nextFrom(late);
const refused = nextFrom(late);
client.close();
await server.close();
const r = await refused;
if (r.open !== false || r.broadcast !== false) fail(`publisher still open after close: ${JSON.stringify(r)}`);
await late.terminate();
const dead = createPublisher(handle);
if (dead.publish("t", "x") !== false) fail("a closed server's handle published");
console.log("publisher session ok");
