#!/usr/bin/env node
// lwsnode benchmark runner: starts each peer server (lwsnode, ws, ws-native, uWebSockets.js,
// Bun) pinned to core 0, drives it with the native load generator pinned to core 1, runs the
// peers interleaved (A B A B …), and reports the median of the runs with min–max and each
// peer's ratio to lwsnode, paired run by run.
//
//   node bench/run.mjs [--quick] [--peers lwsnode,ws] [--scenarios echo,storm] [--runs N]
//                      [--duration S] [--warmup S] [--json FILE] [--no-install] [--no-pin]
//   node bench/run.mjs --render RESULTS.json [--json DIR]   (redraw the charts of a saved run)
//
// Writes build/bench/results.json (or --json FILE) and one SVG bar chart per metric in
// build/bench/. Peers other than lwsnode are installed into
// ${XDG_CACHE_HOME:-~/.cache}/lwsnode/bench-peers with `npm install --prefix`; a peer that
// cannot be installed or started is reported as skipped.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { cpus, homedir, loadavg, release, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const OUT_DIR = join(ROOT, "build", "bench");
const LOADGEN_SRC = join(ROOT, "bench", "loadgen.c");
const LOADGEN = join(OUT_DIR, "loadgen");
const CACHE = join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "lwsnode", "bench-peers");
const PEER_MODULES = join(CACHE, "node_modules");

// ---------------------------------------------------------------------------------------------
// Command line

function parseArgs(argv) {
  const o = { quick: false, peers: null, scenarios: null, runs: null, duration: null, warmup: null, json: null, install: true, pin: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--quick") o.quick = true;
    else if (a === "--peers") o.peers = value().split(",").filter(Boolean);
    else if (a === "--scenarios") o.scenarios = value().split(",").filter(Boolean);
    else if (a === "--runs") o.runs = positive(a, value());
    else if (a === "--duration") o.duration = positive(a, value());
    else if (a === "--warmup") o.warmup = Number(value());
    else if (a === "--json") o.json = resolve(value());
    else if (a === "--no-install") o.install = false;
    else if (a === "--no-pin") o.pin = false;
    else if (a === "--render") o.render = resolve(value());
    else if (a === "--help" || a === "-h") {
      console.log(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").slice(1, 14).join("\n"));
      process.exit(0);
    } else fail(`unknown argument ${a}`);
  }
  return o;
}

function positive(name, v) {
  const n = Number(v);
  if (!(n > 0)) fail(`${name} must be a positive number`);
  return n;
}

function fail(msg) {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

const args = parseArgs(process.argv.slice(2));
const QUICK = args.quick;
const RUNS = Math.round(args.runs ?? (QUICK ? 1 : 3));
const DURATION = args.duration ?? (QUICK ? 1 : 3);
const WARMUP = args.warmup ?? (QUICK ? 0.3 : 1);
const PIN = args.pin && cpus().length >= 2 && spawnSync("taskset", ["-V"]).status === 0;

// ---------------------------------------------------------------------------------------------
// Scenarios. Each has a server MODE, loadgen arguments and the metrics it reports.

/** Echoed messages per second, and MB per second, each with the loadgen's latency percentiles. */
const MSGS_PER_S = { key: "msgs_per_s", label: "messages/s", better: "higher", latency: true };
const MB_PER_S = { key: "mb_per_s", label: "MB/s", better: "higher", latency: true };

const SCENARIOS = {
  echo: {
    title: "100 connections × 16 in flight × 64 B",
    server: "echo",
    loadgen: { mode: "echo", conns: 100, inflight: 16, size: 64 },
    metrics: [MSGS_PER_S],
  },
  echo1: {
    title: "100 connections × 1 in flight × 64 B (latency-bound)",
    server: "echo",
    loadgen: { mode: "echo", conns: 100, inflight: 1, size: 64 },
    metrics: [MSGS_PER_S],
  },
  echo64k: {
    title: "10 connections × 4 in flight × 64 KiB",
    server: "echo",
    loadgen: { mode: "echo", conns: 10, inflight: 4, size: 65536 },
    metrics: [MB_PER_S],
  },
  broadcast: {
    title: `${QUICK ? 200 : 1000} subscribers × 64 B, 1 publisher (window 8)`,
    server: "broadcast",
    loadgen: { mode: "broadcast", conns: QUICK ? 200 : 1000, inflight: 8, size: 64 },
    metrics: [{ ...MSGS_PER_S, label: "deliveries/s" }],
  },
  storm: {
    title: `open ${QUICK ? 2000 : 10000} connections (128 handshakes at a time)`,
    server: "idle",
    loadgen: { mode: "storm", conns: QUICK ? 2000 : 10000, pending: 128, hold: 30 },
    metrics: [
      { key: "conns_per_s", label: "connections/s", better: "higher" },
      { key: "rss_kib_per_conn", id: "storm-rss", label: "KiB RSS per idle connection", better: "lower" },
    ],
  },
  large: {
    title: "1 connection echoing 1 MiB messages",
    server: "echo",
    loadgen: { mode: "large", conns: 1, inflight: 1, size: 1 << 20 },
    metrics: [MB_PER_S],
  },
  jscpu: {
    title: "echo at a fixed 20,000 msg/s (100 conns × 64 B, round-robin, ≤ 4 in flight each); server CPU per message",
    server: "echo",
    loadgen: { mode: "echo", conns: 100, inflight: 4, size: 64, rate: 20000 },
    metrics: [
      { key: "proc_us_per_msg", id: "jscpu-proc", label: "server CPU µs per message (all threads)", better: "lower" },
      { key: "js_us_per_msg", label: "JS-thread CPU µs per message", better: "lower" },
    ],
  },
};

// ---------------------------------------------------------------------------------------------
// Peers

const PEER_PACKAGES = {
  ws: "ws@^8",
  bufferutil: "bufferutil@^4",
  "utf-8-validate": "utf-8-validate@^6",
  "@trufflesuite/uws-js-unofficial": "@trufflesuite/uws-js-unofficial@20.30.0-unofficial.0",
  bun: "bun@^1",
};

const hasModule = (name) => existsSync(join(PEER_MODULES, name, "package.json"));
const moduleVersion = (dir) => {
  try {
    return JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version;
  } catch {
    return null;
  }
};

function bunBinary() {
  for (const p of [join(PEER_MODULES, "bun", "bin", "bun.exe"), join(PEER_MODULES, "@oven", "bun-linux-x64", "bin", "bun")]) {
    if (existsSync(p) && statSync(p).size > 1_000_000) return p;
  }
  return null;
}

const PEERS = {
  lwsnode: {
    needs: [],
    command: () => [process.execPath, [join(ROOT, "bench", "peers", "lwsnode.mjs")]],
    env: {},
    version: () => moduleVersion(ROOT),
  },
  // lwsnode attached to a node:http server's port: upgrades handed over to the I/O thread.
  "lwsnode-attach": {
    needs: [],
    command: () => [process.execPath, [join(ROOT, "bench", "peers", "lwsnode.mjs")]],
    env: { ATTACH: "http" },
    version: () => moduleVersion(ROOT),
  },
  ws: {
    needs: ["ws"],
    optional: true, // falls back to the repo's own ws (a devDependency)
    command: () => [process.execPath, [join(ROOT, "bench", "peers", "ws.mjs")]],
    env: { WS_NO_BUFFER_UTIL: "1", WS_NO_UTF_8_VALIDATE: "1" },
    version: () => moduleVersion(hasModule("ws") ? join(PEER_MODULES, "ws") : join(ROOT, "node_modules", "ws")),
  },
  "ws-native": {
    needs: ["ws", "bufferutil", "utf-8-validate"],
    command: () => [process.execPath, [join(ROOT, "bench", "peers", "ws-native.mjs")]],
    env: {},
    version: () =>
      `${moduleVersion(join(PEER_MODULES, "ws"))} (bufferutil ${moduleVersion(join(PEER_MODULES, "bufferutil"))}, utf-8-validate ${moduleVersion(join(PEER_MODULES, "utf-8-validate"))})`,
  },
  uws: {
    needs: ["@trufflesuite/uws-js-unofficial"],
    command: () => [process.execPath, [join(ROOT, "bench", "peers", "uws.mjs")]],
    env: {},
    version: () => moduleVersion(join(PEER_MODULES, "@trufflesuite", "uws-js-unofficial")),
  },
  bun: {
    needs: ["bun"],
    command: () => [bunBinary(), [join(ROOT, "bench", "peers", "bun.ts")]],
    env: {},
    version: () => {
      const r = spawnSync(bunBinary(), ["--version"], { encoding: "utf8", timeout: 10_000 });
      return r.status === 0 ? r.stdout.trim() : null;
    },
  },
};

// ---------------------------------------------------------------------------------------------
// Preparation: TypeScript build, load generator, peer installs

function newestMtime(dir, ext) {
  let t = 0;
  for (const f of readdirSync(dir)) if (f.endsWith(ext)) t = Math.max(t, statSync(join(dir, f)).mtimeMs);
  return t;
}

function ensureDist() {
  const index = join(ROOT, "dist", "index.js");
  if (existsSync(index) && statSync(index).mtimeMs >= newestMtime(join(ROOT, "lib"), ".ts")) return;
  log("building dist/ (tsc)");
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const r = spawnSync(process.execPath, [tsc, "-p", join(ROOT, "tsconfig.json")], { cwd: ROOT, encoding: "utf8", timeout: 180_000 });
  if (r.status !== 0) {
    if (!existsSync(index)) fail(`tsc failed:\n${r.stdout}${r.stderr}`);
    log(`tsc failed, using the existing dist/: ${(r.stdout + r.stderr).split("\n")[0]}`);
  }
}

function ensureLoadgen() {
  mkdirSync(OUT_DIR, { recursive: true });
  if (existsSync(LOADGEN) && statSync(LOADGEN).mtimeMs >= statSync(LOADGEN_SRC).mtimeMs) return;
  log("building the load generator (cc -O2)");
  const r = spawnSync("cc", ["-O2", "-o", LOADGEN, LOADGEN_SRC], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) fail(`cc failed:\n${r.stderr}`);
}

function installPeers(names) {
  const wanted = new Set();
  for (const n of names) for (const m of PEERS[n].needs) if (!hasModule(m)) wanted.add(m);
  if (wanted.size === 0 || !args.install) return null;
  mkdirSync(CACHE, { recursive: true });
  const specs = [...wanted].map((m) => PEER_PACKAGES[m]);
  log(`installing peers into ${CACHE}: ${specs.join(" ")}`);
  const r = spawnSync("npm", ["install", "--prefix", CACHE, "--no-audit", "--no-fund", "--loglevel=error", ...specs], {
    encoding: "utf8",
    timeout: 600_000,
  });
  return r.status === 0 ? null : `npm install failed: ${(r.stderr || r.stdout || String(r.error)).trim().split("\n").slice(-1)[0]}`;
}

// ---------------------------------------------------------------------------------------------
// Processes

const children = new Set();
function track(child) {
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}
function killAll() {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch {}
  }
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function lines(stream, onLine) {
  let buf = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
}

// Starts a peer server in MODE on a free port, pinned to core 0 with a raised fd limit.
// Resolves { child, pid, port, note } once it prints READY.
function startServer(peerName, mode) {
  const peer = PEERS[peerName];
  const [exe, exeArgs] = peer.command();
  const env = { ...process.env, PORT: "0", MODE: mode, ...peer.env };
  if (peer.needs.every(hasModule)) env.PEER_MODULES = PEER_MODULES;
  else delete env.PEER_MODULES;
  const pin = PIN ? "exec taskset -c 0 \"$@\"" : "exec \"$@\"";
  const child = track(
    spawn("bash", ["-c", `ulimit -n "$(ulimit -Hn)" 2>/dev/null; ${pin}`, "bash", exe, ...exeArgs], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  const errors = [];
  lines(child.stderr, (l) => errors.push(l) > 20 && errors.shift());
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${peerName} did not print READY within 20 s ${errors.slice(-3).join(" | ")}`));
    }, 20_000);
    lines(child.stdout, (l) => {
      const m = /^READY (\d+)\s*(.*)$/.exec(l);
      if (m) {
        clearTimeout(timer);
        resolvePromise({ child, pid: child.pid, port: Number(m[1]), note: m[2].trim(), errors });
      } else if (l.startsWith("SKIP")) {
        clearTimeout(timer);
        reject(Object.assign(new Error(l.slice(5)), { skip: true }));
      }
    });
    child.on("exit", (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${peerName} exited (${code ?? sig}) before READY: ${errors.slice(-3).join(" | ")}`));
    });
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function stopServer(server) {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(t);
}

// /proc readings of the server process
const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function cpuOf(statPath) {
  const s = readFileSync(statPath, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime + stime (fields 14 and 15)
}

function sampleCpu(pid) {
  try {
    return { main: cpuOf(`/proc/${pid}/task/${pid}/stat`), proc: cpuOf(`/proc/${pid}/stat`) };
  } catch {
    return null;
  }
}

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

function commOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "?";
  }
}

// Runs the load generator against `server`; resolves its JSON result plus server-side readings.
function runLoadgen(server, spec) {
  const lg = spec.loadgen;
  const a = ["--port", String(server.port), "--mode", lg.mode, "--conns", String(lg.conns), "--inflight", String(lg.inflight ?? 1)];
  if (lg.size) a.push("--size", String(lg.size));
  if (lg.rate) a.push("--rate", String(lg.rate));
  if (lg.pending) a.push("--pending", String(lg.pending));
  if (lg.hold) a.push("--hold", String(lg.hold));
  const timeout = lg.mode === "storm" ? 90 : WARMUP + DURATION + 60;
  a.push("--duration", String(DURATION), "--warmup", String(WARMUP), "--timeout", String(timeout));
  const [exe, exeArgs] = PIN ? ["taskset", ["-c", "1", LOADGEN, ...a]] : [LOADGEN, a];
  const child = track(spawn(exe, exeArgs, { stdio: ["pipe", "pipe", "pipe"] }));
  let out = "";
  const err = [];
  const marks = {};
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (d) => (out += d));
  child.stdin.on("error", () => {});
  lines(child.stderr, async (l) => {
    if (l === "MARK start") marks.start = sampleCpu(server.pid);
    else if (l === "MARK end") marks.end = sampleCpu(server.pid);
    else if (l.startsWith("MARK open")) {
      // every connection is open: let the server settle, read its RSS, then let loadgen close
      await sleep(QUICK ? 300 : 600);
      marks.rss = rssKiB(server.pid);
      child.stdin.end("\n");
    } else err.push(l);
  });
  return new Promise((resolvePromise, reject) => {
    const killer = setTimeout(() => child.kill("SIGKILL"), (timeout + 15) * 1000);
    child.on("exit", (code, sig) => {
      clearTimeout(killer);
      let r;
      try {
        r = JSON.parse(out.trim().split("\n").pop());
      } catch {
        return reject(new Error(`loadgen exited ${code ?? sig} without a result: ${err.join(" | ")}`));
      }
      if (code !== 0) return reject(new Error(`loadgen exited ${code ?? sig}: ${r.error || err.join(" | ")}`));
      if (r.errors > 0) return reject(new Error(`loadgen saw ${r.errors} errors: ${r.error}`));
      resolvePromise({ result: r, marks });
    });
  });
}

async function oneRun(peerName, scenarioName) {
  const spec = SCENARIOS[scenarioName];
  const server = await startServer(peerName, spec.server);
  try {
    await sleep(QUICK ? 100 : 250);
    const rssBefore = rssKiB(server.pid);
    const { result, marks } = await runLoadgen(server, spec);
    const values = { ...result };
    if (marks.start && marks.end && result.msgs > 0) {
      values.js_cpu_per_100k = ((marks.end.main - marks.start.main) / result.msgs) * 1e5;
      values.proc_cpu_per_100k = ((marks.end.proc - marks.start.proc) / result.msgs) * 1e5;
      // The same in µs per message: the issue's "server CPU per message" (every thread).
      values.js_us_per_msg = values.js_cpu_per_100k * 10;
      values.proc_us_per_msg = values.proc_cpu_per_100k * 10;
      values.server_cpu_share = (marks.end.proc - marks.start.proc) / result.seconds;
    }
    if (marks.rss !== undefined) {
      values.rss_before_kib = rssBefore;
      values.rss_open_kib = marks.rss;
      values.rss_kib_per_conn = (marks.rss - rssBefore) / result.connected;
    }
    values.server_comm = commOf(server.pid);
    return values;
  } finally {
    await stopServer(server);
  }
}

// ---------------------------------------------------------------------------------------------
// Progress and output

const isTTY = process.stderr.isTTY;
function log(msg) {
  if (isTTY) process.stderr.write("\r\x1b[K");
  process.stderr.write(`${msg}\n`);
}

let progressDone = 0;
let progressTotal = 1;
const progressStart = Date.now();
function progress(what) {
  const frac = progressDone / progressTotal;
  const width = 30;
  const filled = Math.round(frac * width);
  const elapsed = (Date.now() - progressStart) / 1000;
  const eta = progressDone > 0 ? (elapsed / progressDone) * (progressTotal - progressDone) : 0;
  const line = `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${progressDone}/${progressTotal} ${what}  ${fmtTime(elapsed)} elapsed${progressDone ? `, ~${fmtTime(eta)} left` : ""}`;
  if (isTTY) process.stderr.write(`\r\x1b[K${line}`);
  else process.stderr.write(`${line}\n`);
}
const fmtTime = (s) => (s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s` : `${Math.round(s)}s`);

function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? null : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

function summarize(values) {
  const xs = values.filter((v) => typeof v === "number" && Number.isFinite(v));
  if (xs.length === 0) return null;
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r, j) => {
    const line = r.map((c, i) => (i < 2 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join("  ");
    return j === 0 ? `${line}\n${widths.map((w) => "-".repeat(w)).join("  ")}` : line;
  });
}

function svgChart(title, label, better, bars) {
  const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const W = 720;
  const left = 110;
  const right = 90;
  const barH = 22;
  const gap = 12;
  const top = 56;
  const H = top + bars.length * (barH + gap) + 30;
  const max = Math.max(...bars.map((b) => b.max ?? b.median ?? 0), 1e-12);
  const x = (v) => left + ((W - left - right) * v) / max;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="13">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="42" fill="#555">${esc(label)} (${better} is better); bar = median, whisker = min–max</text>`,
  ];
  bars.forEach((b, i) => {
    const y = top + i * (barH + gap);
    out.push(`<text x="${left - 8}" y="${y + barH / 2 + 4}" text-anchor="end">${esc(b.peer)}</text>`);
    if (b.median === null) {
      out.push(`<text x="${left + 4}" y="${y + barH / 2 + 4}" fill="#999">${esc(b.note || "no result")}</text>`);
      return;
    }
    const color = b.peer === "lwsnode" ? "#d9480f" : "#4c6ef5";
    out.push(`<rect x="${left}" y="${y}" width="${Math.max(1, x(b.median) - left).toFixed(1)}" height="${barH}" fill="${color}"/>`);
    const cy = y + barH / 2;
    out.push(
      `<line x1="${x(b.min).toFixed(1)}" y1="${cy}" x2="${x(b.max).toFixed(1)}" y2="${cy}" stroke="#222" stroke-width="1.5"/>`,
      `<line x1="${x(b.min).toFixed(1)}" y1="${cy - 5}" x2="${x(b.min).toFixed(1)}" y2="${cy + 5}" stroke="#222"/>`,
      `<line x1="${x(b.max).toFixed(1)}" y1="${cy - 5}" x2="${x(b.max).toFixed(1)}" y2="${cy + 5}" stroke="#222"/>`,
      `<text x="${(x(b.max) + 6).toFixed(1)}" y="${cy + 4}">${esc(fmt(b.median))}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const peerNames = args.peers ?? Object.keys(PEERS);
  for (const p of peerNames) if (!PEERS[p]) fail(`unknown peer ${p} (known: ${Object.keys(PEERS).join(", ")})`);
  const scenarioNames = args.scenarios ?? Object.keys(SCENARIOS);
  for (const s of scenarioNames) if (!SCENARIOS[s]) fail(`unknown scenario ${s} (known: ${Object.keys(SCENARIOS).join(", ")})`);

  ensureDist();
  ensureLoadgen();
  const installError = installPeers(peerNames);

  const machine = {
    node: process.version,
    cpu: (readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/) ?? [])[1] ?? cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memory_gib: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    pinned: PIN ? "server on core 0, load generator on core 1 (taskset)" : "not pinned",
    loadavg_start: loadavg().map((x) => Number(x.toFixed(2))),
  };
  let commit = null;
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {}

  // Probe every peer once: installed? starts? (a peer that cannot is skipped, not failed)
  const peers = {};
  for (const name of peerNames) {
    const peer = PEERS[name];
    const missing = peer.needs.filter((m) => !hasModule(m));
    if (missing.length && !peer.optional) {
      peers[name] = { skipped: `not installed (${missing.join(", ")})${installError ? `; ${installError}` : ""}` };
      continue;
    }
    if (name === "bun" && !bunBinary()) {
      peers[name] = { skipped: "bun binary missing from the npm package" };
      continue;
    }
    try {
      const s = await startServer(name, "broadcast");
      const note = s.note;
      await stopServer(s);
      peers[name] = { version: peer.version(), ...(note ? { note } : {}) };
    } catch (err) {
      peers[name] = err.skip ? { skipped: err.message } : { skipped: `does not start: ${err.message}` };
    }
  }
  const active = peerNames.filter((p) => !peers[p].skipped);
  for (const p of peerNames) if (peers[p].skipped) log(`skipping ${p}: ${peers[p].skipped}`);
  if (active.length === 0) fail("no peer could be started");

  progressTotal = scenarioNames.length * RUNS * active.length;
  const raw = {}; // raw[scenario][peer] = [run values | {error}]
  for (const s of scenarioNames) {
    raw[s] = Object.fromEntries(active.map((p) => [p, []]));
    for (let r = 0; r < RUNS; r++) {
      for (const p of active) {
        progress(`${s} ${p} run ${r + 1}/${RUNS}`);
        try {
          raw[s][p].push(await oneRun(p, s));
        } catch (err) {
          raw[s][p].push({ error: err.message });
          log(`${s} ${p} run ${r + 1}: ${err.message}`);
        }
        progressDone++;
      }
    }
  }
  progress("done");
  if (isTTY) process.stderr.write("\n");
  machine.loadavg_end = loadavg().map((x) => Number(x.toFixed(2)));

  // Summaries: median and min–max per peer, ratio to lwsnode paired run by run
  const results = {};
  const rows = [["scenario", "peer", "median", "min–max", "peer/lwsnode", "p50/p99 µs", "loadgen CPU", "runs"]];
  const svgs = [];
  for (const s of scenarioNames) {
    const spec = SCENARIOS[s];
    results[s] = { title: spec.title, metrics: {} };
    for (const m of spec.metrics) {
      const metricId = m.id ?? s;
      const entry = { metric: m.key, label: m.label, better: m.better, peers: {} };
      for (const p of active) {
        const runs = raw[s][p];
        const vals = runs.map((v) => (v.error ? null : v[m.key]));
        const sum = summarize(vals);
        const out = { ...(sum ?? { median: null }), runs: vals };
        if (p !== "lwsnode" && raw[s].lwsnode) {
          const base = raw[s].lwsnode.map((v) => (v.error ? null : v[m.key]));
          const ratios = vals.map((v, i) => (v != null && base[i] ? v / base[i] : null));
          const rs = summarize(ratios);
          if (rs) out.ratio = { median: rs.median, min: rs.min, max: rs.max };
        }
        if (m.latency) {
          out.p50_us = median(runs.filter((v) => !v.error).map((v) => v.p50_us));
          out.p99_us = median(runs.filter((v) => !v.error).map((v) => v.p99_us));
        }
        out.loadgen_cpu_share = median(runs.filter((v) => !v.error).map((v) => v.cpu_share));
        const errs = runs.filter((v) => v.error).map((v) => v.error);
        if (errs.length) out.errors = errs;
        entry.peers[p] = out;
        const unit = m.key === "rss_kib_per_conn" ? " KiB" : m.key.includes("cpu") ? " s" : "";
        rows.push([
          metricId,
          p,
          sum ? `${fmt(sum.median)}${unit}` : "failed",
          sum ? `${fmt(sum.min)}–${fmt(sum.max)}` : "",
          p === "lwsnode" ? "1" : out.ratio ? `${out.ratio.median.toFixed(2)} (${out.ratio.min.toFixed(2)}–${out.ratio.max.toFixed(2)})` : "–",
          m.latency && out.p50_us != null ? `${fmt(out.p50_us)}/${fmt(out.p99_us)}` : "",
          out.loadgen_cpu_share != null ? `${Math.round(out.loadgen_cpu_share * 100)}%` : "",
          `${sum ? sum.n : 0}/${runs.length}`,
        ]);
      }
      results[s].metrics[metricId] = entry;
      const file = join(OUT_DIR, `${metricId}.svg`);
      writeFileSync(
        file,
        svgChart(`${metricId}: ${spec.title}`, m.label, m.better, [
          ...active.map((p) => ({ peer: p, ...entry.peers[p] })),
          ...peerNames.filter((p) => peers[p].skipped).map((p) => ({ peer: p, median: null, note: "skipped" })),
        ]),
      );
      svgs.push(file);
    }
  }

  const report = {
    date: new Date().toISOString(),
    commit,
    quick: QUICK,
    runs: RUNS,
    duration_s: DURATION,
    warmup_s: WARMUP,
    machine,
    peers,
    scenarios: results,
    raw,
  };
  const jsonFile = args.json ?? join(OUT_DIR, "results.json");
  mkdirSync(dirname(jsonFile), { recursive: true });
  writeFileSync(jsonFile, JSON.stringify(report, null, 2) + "\n");

  const out = [];
  out.push(`lwsnode bench${QUICK ? " (quick)" : ""}: ${RUNS} run(s) per peer, ${WARMUP}s warm-up + ${DURATION}s measured, interleaved`);
  out.push(`${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.pinned}; load average ${machine.loadavg_start.join(" ")} → ${machine.loadavg_end.join(" ")}`);
  out.push(`peers: ${peerNames.map((p) => (peers[p].skipped ? `${p} (skipped: ${peers[p].skipped})` : `${p} ${peers[p].version ?? ""}${peers[p].note ? ` [${peers[p].note}]` : ""}`)).join(", ")}`);
  out.push("");
  out.push(...table(rows));
  out.push("");
  for (const s of scenarioNames) out.push(`${s}: ${SCENARIOS[s].title}`);
  out.push("", `JSON: ${jsonFile}`, `SVG: ${svgs.join(", ")}`);
  console.log(out.join("\n"));
  const anyResult = Object.values(results).some((r) => Object.values(r.metrics).some((e) => Object.values(e.peers).some((p) => p.median != null)));
  process.exit(anyResult ? 0 : 1);
}

// Redraws one SVG per metric of a saved results file into a directory (default build/bench).
function render(file, dir) {
  const report = JSON.parse(readFileSync(file, "utf8"));
  mkdirSync(dir, { recursive: true });
  for (const [name, scenario] of Object.entries(report.scenarios)) {
    for (const [metricId, entry] of Object.entries(scenario.metrics)) {
      const bars = Object.entries(entry.peers).map(([peer, v]) => ({ peer, ...v }));
      const out = join(dir, `${metricId}.svg`);
      writeFileSync(out, svgChart(`${metricId}: ${scenario.title ?? name}`, entry.label, entry.better, bars));
      console.log(out);
    }
  }
}

if (args.render) {
  render(args.render, args.json ?? OUT_DIR);
  process.exit(0);
}

main().catch((err) => {
  log(`bench: ${err.stack || err}`);
  killAll();
  process.exit(1);
});
