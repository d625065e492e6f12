// The wakeups between the JS thread and the I/O thread (issue 11): an echoed message that
// arrives alone costs the JS thread one sleep and the I/O thread at most two (one waiting for
// JS's answer, one waiting for the next message), no more. A lock held across a wakeup (the woken
// thread blocks on it at once), a wakeup of a thread that is about to look anyway, or a thread
// waking itself would each show up here as more voluntary context switches (sleeps) per
// message. Voluntary switches count only a thread's own sleeps, so other load on the machine
// does not change them (it adds involuntary ones, which are not asserted).
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { requireDist, withTimeout } from "./helpers.js";

const FIXTURE = fileURLToPath(new URL("./fixtures/wakeup-echo.mjs", import.meta.url));

beforeAll(() => requireDist());

let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill("SIGKILL");
  child = undefined;
});

/** Voluntary context switches (sleeps) of the server's JS thread and of its I/O thread. */
function sleeps(pid: number): { js: number; io: number } {
  const out = { js: 0, io: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
    const name = /^Name:\s+(.*)$/m.exec(status)![1];
    const count = Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)![1]);
    if (Number(tid) === pid) out.js = count;
    else if (name === "lwsnode-io") out.io = count;
  }
  return out;
}

async function startPinned(cpu: number): Promise<{ pid: number; port: number }> {
  const proc = spawn("taskset", ["-c", String(cpu), process.execPath, FIXTURE], { stdio: ["pipe", "pipe", "inherit"] });
  child = proc;
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      let out = "";
      proc.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /LISTENING (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      proc.on("exit", (code) => reject(new Error(`the server exited (${code}) before listening`)));
    }),
    20_000,
    "the pinned server to listen",
  );
  return { pid: proc.pid!, port };
}

/** Sends `count` messages one at a time, each after the previous one's echo. */
async function pingPong(client: WebSocket, count: number): Promise<void> {
  const payload = Buffer.alloc(64, 7);
  for (let i = 0; i < count; i++) {
    await withTimeout(
      new Promise<void>((resolve) => {
        client.once("message", () => resolve());
        client.send(payload);
      }),
      5000,
      `echo ${i}`,
    );
  }
}

describe("wakeups per lone message", () => {
  it("with both threads on one CPU, JS sleeps once and the I/O thread at most twice per echoed message", { timeout: 60_000 }, async () => {
    const { pid, port } = await startPinned(cpus().length - 1);
    const client = new WebSocket(`ws://127.0.0.1:${port}/`);
    await withTimeout(new Promise((resolve, reject) => client.once("open", resolve).once("error", reject)), 5000, "open");
    await pingPong(client, 300); // JIT warm-up, first allocations
    const before = sleeps(pid);
    const messages = 2000;
    await pingPong(client, messages);
    const after = sleeps(pid);
    client.close();
    const js = (after.js - before.js) / messages;
    const io = (after.io - before.io) / messages;
    // JS: 1 (it waits for the next delivery). The I/O thread: 2 at most (for JS's answer,
    // unless it came while the thread finished its turn, then for the next message). Before
    // the handoffs were fixed the woken thread often blocked at once on a mutex the waker held
    // across its wakeup, and the I/O thread sometimes woke itself: 2.2-2.4 for the I/O thread.
    expect(js, `JS thread sleeps per message (I/O thread: ${io.toFixed(2)})`).toBeLessThan(1.1);
    expect(io, `I/O thread sleeps per message (JS thread: ${js.toFixed(2)})`).toBeLessThan(2.05);
  });
});
