// Hunts the segfault reported after an async `upgrade` hook rejected with 401 while a `ws`
// client listening for 'unexpected-response' kept its socket open (issue 13, item 2). Runs
// the scenario in a loop, with the client closing at every point of the exchange, against the
// built package (dist/); under ASan:
//
//   npm run build:asan && npm run build:ts
//   LD_PRELOAD="$(gcc -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0 \
//     LWSNODE_ADDON="$PWD/build-asan/Debug/lwsnode.node" node scripts/hunt-upgrade-reject.mjs 2000
//
// Prints "DONE <exchanges>" and exits 0 when every exchange ended as it should; a crash ends
// the process (ASan prints the report).
import { connect as netConnect } from "node:net";
import WebSocket from "ws";

const lws = await import(new URL("../dist/index.js", import.meta.url).href);

const rounds = Number(process.argv[2] ?? 200);
const PARALLEL = 16;
const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const REQUEST = `GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rand = (n) => Math.floor(Math.random() * n);

// Hook decisions: sync, after a microtask, after a timer; 401 with a header and a body.
const reject401 = { status: 401, headers: { "www-authenticate": "Bearer" }, body: "no" };
const hooks = [
  () => reject401,
  async () => reject401,
  () => new Promise((r) => setTimeout(() => r(reject401), rand(5))),
  () => new Promise((r) => setImmediate(() => r(reject401))),
];

// How the client behaves: each resolves once its exchange is over.
const clients = {
  // The report: a `ws` client with an 'unexpected-response' listener that keeps the socket
  // open (never reads the body, never destroys), closed later from outside.
  wsKeepsOpen: (port) =>
    new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/x`);
      ws.on("error", () => {});
      ws.on("unexpected-response", (req) => {
        setTimeout(() => {
          req.destroy();
          resolve();
        }, rand(30));
      });
      ws.on("close", resolve);
    }),
  // Same, but it reads the response body to its end and never closes itself.
  wsReadsBody: (port) =>
    new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/x`);
      ws.on("error", () => {});
      ws.on("unexpected-response", (_req, res) => {
        res.resume();
        res.on("end", resolve);
        res.on("close", resolve);
      });
      ws.on("close", resolve);
    }),
  // Raw clients that go away at every point of the exchange.
  closeBeforeRequest: (port) => raw(port, 0, "end"),
  closeMidRequest: (port) => raw(port, 1, "end"),
  closeRightAfterRequest: (port) => raw(port, 2, "end"),
  resetRightAfterRequest: (port) => raw(port, 2, "reset"),
  resetWhileHookRuns: (port) => raw(port, 3, "reset"),
  closeAfterResponse: (port) => raw(port, 4, "end"),
  resetAfterResponse: (port) => raw(port, 4, "reset"),
  halfCloseAndWait: (port) => raw(port, 5, "end"),
};

function raw(port, stage, how) {
  return new Promise((resolve) => {
    const s = netConnect(port, "127.0.0.1");
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      if (how === "reset" && !s.destroyed) s.resetAndDestroy();
      else s.destroy();
      resolve();
    };
    s.on("error", finish);
    s.on("close", finish);
    s.on("connect", async () => {
      if (stage === 0) return finish();
      if (stage === 1) {
        s.write(REQUEST.slice(0, 1 + rand(REQUEST.length - 2)));
        await sleep(rand(3));
        return finish();
      }
      s.write(REQUEST);
      if (stage === 2) return finish();
      if (stage === 3) {
        await sleep(rand(4));
        return finish();
      }
      if (stage === 5) s.end(); // half-close right after the request; the server answers, then closes
      s.on("data", () => (stage === 4 ? finish() : undefined));
      setTimeout(finish, 300);
    });
  });
}

let exchanges = 0;
const names = Object.keys(clients);
for (let round = 0; round < rounds; round++) {
  const server = await lws.createServer({ port: 0, host: "127.0.0.1", upgrade: hooks[round % hooks.length], upgradeTimeout: 2000 });
  const work = [];
  for (let i = 0; i < PARALLEL; i++) work.push(clients[names[(round + i) % names.length]](server.port));
  // Sometimes the server closes while exchanges are in flight.
  if (round % 5 === 4) await sleep(rand(5));
  else await Promise.all(work);
  await server.close();
  await Promise.all(work);
  exchanges += PARALLEL;
}
console.log(`DONE ${exchanges}`);
