#!/usr/bin/env node
// linux-arm64 smoke test (`npm run test:arm64`, via scripts/cross-arm64.sh smoke): Debian's arm64
// node, emulated by qemu-user, runs `lwsnode serve --echo` from this checkout (bin/ + dist/)
// with the cross-built addon given as argv[2] (through LWSNODE_ADDON); this amd64 process talks
// to it with the `ws` package over 127.0.0.1 and checks that every message comes back unchanged
// and in order, then that a SIGTERM makes the emulated server close and exit 0.
// Environment: LWSNODE_ARM64_SYSROOT (the sysroot scripts/cross-arm64.sh unpacks).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const addon = process.argv[2] && resolve(process.argv[2]);
const sysroot = process.env.LWSNODE_ARM64_SYSROOT;
if (!addon || !sysroot) {
  console.error("usage: LWSNODE_ARM64_SYSROOT=<dir> node test/arm64/smoke.mjs <arm64 lwsnode.node>");
  process.exit(2);
}
// qemu's start-up of node (JIT included) takes seconds, more on a loaded machine.
const START_MS = 180_000;
const STEP_MS = 60_000;

function fail(message) {
  console.error(`arm64 smoke: FAIL: ${message}`);
  server.kill("SIGKILL");
  process.exit(1);
}
function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// The ELF header's e_machine (offset 18) says the addon is arm64 (183 = EM_AARCH64): a native
// addon could not be loaded by the emulated node anyway, but this names the failure plainly.
const machine = readFileSync(addon).readUInt16LE(18);
if (machine !== 183) {
  console.error(`arm64 smoke: FAIL: ${addon} is not an arm64 ELF (e_machine ${machine})`);
  process.exit(1);
}

const t0 = performance.now();
const server = spawn(
  "qemu-aarch64",
  ["-L", sysroot, join(sysroot, "usr/bin/node"), join(root, "bin/lwsnode.mjs"), "serve", "--port", "0", "--echo"],
  { env: { ...process.env, LWSNODE_ADDON: addon }, stdio: ["ignore", "pipe", "inherit"] },
);
const exited = new Promise((resolve) => server.once("exit", (code, signal) => resolve({ code, signal })));

let url;
try {
  url = await within(START_MS, "emulated server start", new Promise((resolve, reject) => {
    let out = "";
    server.stdout.on("data", (chunk) => {
      out += chunk;
      const m = /server on (ws:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve(m[1]);
    });
    exited.then(({ code, signal }) => reject(new Error(`server exited early (${code ?? signal}): ${out}`)));
  }));
} catch (err) {
  fail(err.message);
}
const started = performance.now();
console.log(`arm64 smoke: emulated node serves ${url} (start-up ${((started - t0) / 1000).toFixed(1)} s)`);

// Text, binary (empty, small, 256 KiB: several frames' worth of fragments), and a burst.
const messages = [
  { data: "hello from amd64", binary: false },
  { data: "ünïcødé ✓", binary: false },
  { data: Buffer.alloc(0), binary: true },
  { data: randomBytes(125), binary: true },
  { data: randomBytes(256 * 1024), binary: true },
  ...Array.from({ length: 100 }, (_, i) => ({ data: `burst ${i}`, binary: false })),
];
try {
  const ws = new WebSocket(url);
  await within(STEP_MS, "handshake", new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  }));
  const received = [];
  const all = new Promise((resolve, reject) => {
    ws.on("message", (data, isBinary) => {
      received.push({ data, isBinary });
      if (received.length === messages.length) resolve();
    });
    ws.once("close", (code) => reject(new Error(`closed early (${code}) after ${received.length} echoes`)));
  });
  for (const m of messages) ws.send(m.data, { binary: m.binary });
  await within(STEP_MS, "echoes", all);
  messages.forEach((m, i) => {
    const got = received[i];
    if (got.isBinary !== m.binary) fail(`message ${i}: binary ${got.isBinary}, sent ${m.binary}`);
    const want = Buffer.from(m.data);
    if (!want.equals(got.data)) fail(`message ${i}: ${got.data.length} bytes differ from the ${want.length} sent`);
  });
  const closed = new Promise((resolve) => ws.once("close", (code) => resolve(code)));
  ws.close(1000, "done");
  const code = await within(STEP_MS, "close", closed);
  if (code !== 1000) fail(`close code ${code}, expected 1000`);
} catch (err) {
  fail(err.message);
}
const echoed = performance.now();
console.log(`arm64 smoke: ${messages.length} messages echoed unchanged and in order ` +
  `(${((echoed - started) / 1000).toFixed(1)} s), close 1000`);

// The CLI closes its server on SIGTERM; a process whose servers are closed exits by itself.
server.kill("SIGTERM");
let result;
try {
  result = await within(STEP_MS, "exit after SIGTERM", exited);
} catch (err) {
  fail(err.message);
}
if (result.code !== 0) fail(`emulated server exited with ${result.code ?? result.signal}, expected 0`);
console.log(`arm64 smoke: ok (emulated server exited 0; total ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
