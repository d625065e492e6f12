#!/usr/bin/env node
// Soak test: a server process under steady traffic for a bounded time, checking delivery and
// memory. Opt-in (npm run soak -- --minutes 10); test/soak.test.ts runs a 15 s version.
//
//   node scripts/soak.mjs [--minutes M | --seconds S] [--clients N] [--rate MSGS_PER_S_PER_CLIENT]
//
// The server (a child process, so its RSS is its own) echoes every message and also sends each
// connection its own numbered stream every 100 ms. Every client numbers what it sends; both
// streams are checked on arrival: each number exactly once and in order, per connection. A
// tenth of the clients reconnect every few seconds, so connection setup and teardown are soaked
// too. The server's RSS is sampled every second; after a warm-up (the first quarter) it must stay
// flat: the last quarter's peak may exceed the second quarter's by at most 10 % + 8 MiB.
// Prints progress lines and one "SOAK {json}" verdict; exits 0 when everything held, 1 if not.
// 127.0.0.1 only.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const arg = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};

if (args[0] === "--serve") {
  await serve();
} else {
  await soak();
}

// ---- the server process ----

async function serve() {
  const lws = await import(new URL("../dist/index.js", import.meta.url).href);
  const streams = new Set();
  const server = await lws.createServer({
    port: 0,
    host: "127.0.0.1",
    open(ws) {
      ws.data = { next: 0 };
      streams.add(ws);
    },
    message(ws, data, isBinary) {
      ws.send(data, isBinary);
    },
    close(ws) {
      streams.delete(ws);
    },
  });
  // Each connection's own numbered stream, independent of the echo traffic.
  const tick = setInterval(() => {
    for (const ws of streams) ws.send(`s:${ws.data.next++}`);
  }, 100);
  process.stdout.write(`PORT ${server.port}\n`);
  process.stdin.resume();
  process.stdin.on("end", async () => {
    clearInterval(tick);
    await server.close();
  });
}

// ---- the driver ----

async function soak() {
  const seconds = arg("seconds", arg("minutes", 10) * 60);
  const clientCount = arg("clients", 200);
  const rate = arg("rate", 20); // messages per second per client
  const { default: WebSocket } = await import("ws");

  const serverProc = spawn(process.execPath, [fileURLToPath(import.meta.url), "--serve"], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, NODE_OPTIONS: "" },
  });
  const port = await new Promise((resolve, reject) => {
    let out = "";
    serverProc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/PORT (\d+)/);
      if (m) resolve(Number(m[1]));
    });
    serverProc.once("exit", (code) => reject(new Error(`server exited early (${code})`)));
  });

  const totals = { sent: 0, echoed: 0, streamed: 0, lost: 0, duplicated: 0, reordered: 0, errors: 0, reconnects: 0 };
  const problems = [];
  const problem = (what) => {
    if (problems.length < 20) problems.push(what);
  };

  /** One client: numbered messages out, checks echo order and the server stream's order. */
  function client(id) {
    const c = { id, ws: new WebSocket(`ws://127.0.0.1:${port}/`), nextSend: 0, nextEcho: 0, nextStream: -1, timer: null, closing: false };
    c.ws.on("open", () => {
      c.timer = setInterval(() => {
        if (c.ws.readyState !== WebSocket.OPEN) return;
        // Every 50th message is 32 KiB, so the server's large-frame path is soaked too.
        const n = c.nextSend++;
        const body = n % 50 === 49 ? `e:${n}:` + "x".repeat(32 * 1024) : `e:${n}`;
        c.ws.send(body);
        totals.sent++;
      }, 1000 / rate);
    });
    c.ws.on("message", (data) => {
      const text = data.toString();
      const [kind, num] = text.split(":");
      const n = Number(num);
      if (kind === "e") {
        totals.echoed++;
        if (n === c.nextEcho) c.nextEcho++;
        else if (n < c.nextEcho) (totals.duplicated++, problem(`client ${id}: echo ${n} again (expected ${c.nextEcho})`));
        else (totals.reordered++, problem(`client ${id}: echo ${n} before ${c.nextEcho}`), (c.nextEcho = n + 1));
      } else if (kind === "s") {
        totals.streamed++;
        if (c.nextStream < 0 || n === c.nextStream) c.nextStream = n + 1; // joins the stream wherever it is
        else if (n < c.nextStream) (totals.duplicated++, problem(`client ${id}: stream ${n} again`));
        else (totals.lost += n - c.nextStream, problem(`client ${id}: stream skipped ${c.nextStream}..${n - 1}`), (c.nextStream = n + 1));
      } else {
        problem(`client ${id}: unexpected message ${text.slice(0, 40)}`);
      }
    });
    c.ws.on("error", (err) => {
      totals.errors++;
      problem(`client ${id}: ${err.message}`);
    });
    c.ws.on("close", (code) => {
      clearInterval(c.timer);
      if (!c.closing) (totals.errors++, problem(`client ${id}: closed unexpectedly (${code})`));
      // Everything sent before our close must have been echoed.
      if (c.closing && code === 1000 && c.nextEcho !== c.nextSend) {
        totals.lost += c.nextSend - c.nextEcho;
        problem(`client ${id}: ${c.nextSend - c.nextEcho} echoes missing at close`);
      }
    });
    return c;
  }

  /** Closes a client after its outstanding echoes arrived (bounded wait). */
  async function retire(c) {
    if (c.ws.readyState === WebSocket.CONNECTING) {
      // Still opening (a replacement picked again): closing it now would abort the handshake.
      await new Promise((r) => {
        c.ws.once("open", r);
        c.ws.once("close", r);
        setTimeout(r, 5000);
      });
    }
    clearInterval(c.timer);
    const deadline = Date.now() + 5000;
    while (c.nextEcho < c.nextSend && Date.now() < deadline && c.ws.readyState === WebSocket.OPEN) {
      await new Promise((r) => setTimeout(r, 20));
    }
    c.closing = true;
    c.ws.close(1000);
    await new Promise((r) => (c.ws.readyState === WebSocket.CLOSED ? r() : c.ws.once("close", r)));
  }

  const clients = Array.from({ length: clientCount }, (_, i) => client(i));
  let nextId = clientCount;

  const rss = [];
  const rssOf = () => Number(readFileSync(`/proc/${serverProc.pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)[1]) * 1024;
  const t0 = Date.now();
  const sampler = setInterval(() => rss.push(rssOf()), 1000);
  const churnEvery = Math.max(2, Math.min(10, Math.round(seconds / 6)));
  const churn = setInterval(async () => {
    // Replace a tenth of the clients.
    for (let k = 0; k < Math.ceil(clientCount / 10); k++) {
      const i = Math.floor(Math.random() * clients.length);
      const old = clients[i];
      clients[i] = client(nextId++);
      totals.reconnects++;
      void retire(old);
    }
  }, churnEvery * 1000);
  const progress = setInterval(() => {
    const mb = (rss.at(-1) ?? 0) / 1048576;
    console.log(`soak: ${Math.round((Date.now() - t0) / 1000)}s sent ${totals.sent} echoed ${totals.echoed} streamed ${totals.streamed} rss ${mb.toFixed(1)} MiB`);
  }, Math.max(5, Math.round(seconds / 10)) * 1000);

  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(churn);
  clearInterval(progress);
  clearInterval(sampler);
  await Promise.all(clients.map(retire));
  serverProc.stdin.end(); // the server closes and its process must exit by itself
  const exitCode = await new Promise((resolve) => {
    const timer = setTimeout(() => (serverProc.kill("SIGKILL"), resolve("killed: did not exit")), 10_000);
    serverProc.once("exit", (code) => (clearTimeout(timer), resolve(code)));
  });

  const q = Math.max(1, Math.floor(rss.length / 4));
  const warm = Math.max(...rss.slice(q, 2 * q));
  const last = Math.max(...rss.slice(-q));
  const allowed = warm * 1.1 + 8 * 1048576;
  const verdict = {
    ok: false,
    seconds,
    clients: clientCount,
    ...totals,
    rssWarmMiB: +(warm / 1048576).toFixed(1),
    rssLastMiB: +(last / 1048576).toFixed(1),
    rssFlat: last <= allowed,
    serverExit: exitCode,
    problems,
  };
  verdict.ok =
    verdict.lost === 0 && verdict.duplicated === 0 && verdict.reordered === 0 && verdict.errors === 0 &&
    verdict.rssFlat && exitCode === 0 && totals.echoed > 0 && totals.streamed > 0;
  console.log(`SOAK ${JSON.stringify(verdict)}`);
  console.log(verdict.ok ? "soak: PASS" : "soak: FAIL");
  process.exit(verdict.ok ? 0 : 1);
}
