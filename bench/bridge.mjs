#!/usr/bin/env node
// What bridging topics through Redis costs: deliveries/s with the subscribers on one process
// versus split over two bridged processes, and the CPU each message costs the publishing
// server, the receiving server and redis-server (CPU time per message is the figure to trust on
// a loaded machine; deliveries/s moves with the load).
//
//   npm run bench:bridge [-- --messages N --subscribers S --size BYTES]
//
// Needs redis-server (Debian's package) and the built package (npm run build). Subscribers are
// `ws` clients in this process, on 127.0.0.1.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer as netServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadavg } from "node:os";
import WebSocket from "ws";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const MESSAGES = opt("messages", 20_000);
const SUBSCRIBERS = opt("subscribers", 8);
const SIZE = opt("size", 64);
const RUNS = opt("runs", 3);

if (!existsSync("/usr/bin/redis-server")) throw new Error("redis-server is missing: apt-get install redis-server");

async function freePort() {
  const s = netServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

function cpuOfPid(pid) {
  // utime + stime in clock ticks (100 Hz on Linux) -> µs
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10_000;
}

function lineReader(child) {
  const lines = [];
  const waiters = [];
  let pending = "";
  child.stdout.on("data", (c) => {
    pending += c;
    let nl;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const l = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const w = waiters.findIndex((x) => x.re.test(l));
      if (w >= 0) waiters.splice(w, 1)[0].resolve(l);
      else lines.push(l);
    }
  });
  return (re) =>
    new Promise((resolve) => {
      const i = lines.findIndex((l) => re.test(l));
      if (i >= 0) resolve(lines.splice(i, 1)[0]);
      else waiters.push({ re, resolve });
    });
}

async function startServer(redis) {
  const child = spawn(process.execPath, [join(ROOT, "bench", "bridge-server.mjs"), JSON.stringify({ redis })], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const next = lineReader(child);
  const port = Number((await next(/^listening /)).split(" ")[1]);
  return {
    port,
    send: (cmd) => child.stdin.write(`${JSON.stringify(cmd)}\n`),
    async cpu() {
      this.send({ cmd: "cpu" });
      const c = JSON.parse((await next(/^cpu /)).slice(4));
      return c.user + c.system;
    },
    async close() {
      this.send({ cmd: "close" });
      await new Promise((r) => child.once("exit", r));
    },
  };
}

async function subscribe(port, n, onMessage) {
  const clients = await Promise.all(
    Array.from({ length: n }, () => new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
      ws.on("open", () => resolve(ws));
      ws.on("error", reject);
      ws.on("message", onMessage);
    })),
  );
  return clients;
}

async function scenario(bridged, redisUrl, redisPid) {
  const a = await startServer(bridged ? redisUrl : undefined);
  const b = bridged ? await startServer(redisUrl) : undefined;
  let received = 0;
  let done;
  const finished = new Promise((r) => (done = r));
  const total = MESSAGES * SUBSCRIBERS;
  const onMessage = () => {
    if (++received === total) done();
  };
  const half = bridged ? SUBSCRIBERS / 2 : SUBSCRIBERS;
  const clients = [...(await subscribe(a.port, half, onMessage)), ...(b ? await subscribe(b.port, SUBSCRIBERS - half, onMessage) : [])];
  await new Promise((r) => setTimeout(r, 300)); // subscriptions (and the Redis SUBSCRIBE) settle
  const cpuA0 = await a.cpu();
  const cpuB0 = b ? await b.cpu() : 0;
  const redis0 = cpuOfPid(redisPid);
  const t0 = performance.now();
  a.send({ cmd: "publish", count: MESSAGES, size: SIZE });
  await finished;
  const seconds = (performance.now() - t0) / 1000;
  const cpuA = (await a.cpu()) - cpuA0;
  const cpuB = b ? (await b.cpu()) - cpuB0 : 0;
  const redisCpu = cpuOfPid(redisPid) - redis0;
  for (const c of clients) c.terminate();
  await a.close();
  await b?.close();
  return {
    deliveriesPerSec: total / seconds,
    publisherCpuPerMsg: cpuA / MESSAGES,
    receiverCpuPerMsg: cpuB / MESSAGES,
    redisCpuPerMsg: redisCpu / MESSAGES,
  };
}

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

const port = await freePort();
const redis = spawn("/usr/bin/redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
await new Promise((r) => setTimeout(r, 300));
const url = `redis://127.0.0.1:${port}`;
try {
  const results = { one: [], two: [] };
  for (let run = 0; run < RUNS; run++) {
    results.one.push(await scenario(false, url, redis.pid));
    results.two.push(await scenario(true, url, redis.pid));
  }
  const summary = (rs) => Object.fromEntries(Object.keys(rs[0]).map((k) => [k, median(rs.map((r) => r[k]))]));
  const one = summary(results.one);
  const two = summary(results.two);
  console.log(`bridge bench: ${MESSAGES} messages of ${SIZE} B to ${SUBSCRIBERS} subscribers, median of ${RUNS} runs, load average ${loadavg()[0].toFixed(2)}`);
  console.log(`  one process:             ${Math.round(one.deliveriesPerSec).toLocaleString("en")} deliveries/s; publisher ${one.publisherCpuPerMsg.toFixed(1)} µs CPU/message`);
  console.log(`  two bridged processes:   ${Math.round(two.deliveriesPerSec).toLocaleString("en")} deliveries/s (${(two.deliveriesPerSec / one.deliveriesPerSec).toFixed(2)}×); ` +
    `publisher ${two.publisherCpuPerMsg.toFixed(1)} µs, receiver ${two.receiverCpuPerMsg.toFixed(1)} µs, redis-server ${two.redisCpuPerMsg.toFixed(1)} µs CPU/message`);
  // Same fan-out work in both (8 deliveries per message); the difference is the bridge.
  const bridgeCost = two.publisherCpuPerMsg + two.receiverCpuPerMsg - one.publisherCpuPerMsg;
  console.log(`  bridge cost per message: +${bridgeCost.toFixed(1)} µs of server CPU (both servers together, against one), plus redis-server's`);
  console.log(JSON.stringify({ one, two }));
} finally {
  redis.kill("SIGKILL");
}
