// Shutdown under load: a child process serves 1,000 clients (held here) that keep sending and
// receiving; it is then shut down by server.close(), by SIGTERM/SIGINT through the README's
// graceful-shutdown recipe, or by terminating the Worker that runs the server. Nothing crashes,
// every client sees its connection close, and the child exits by itself with status 0.
import { spawn, type ChildProcess } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { FIXTURES, ROOT, requireDist, useCleanup, waitFor, withTimeout } from "./helpers.js";

beforeAll(requireDist);
const defer = useCleanup();

const CLIENTS = 1000;

interface Child {
  proc: ChildProcess;
  lines: string[];
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

function startChild(mode: string): Child {
  const proc = spawn(process.execPath, [FIXTURES + "shutdown-server.mjs", mode], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, NODE_OPTIONS: "" },
  });
  const child: Child = {
    proc,
    lines: [],
    stderr: "",
    exited: new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal, at: Date.now() }))),
  };
  let pending = "";
  proc.stdout!.setEncoding("utf8").on("data", (d: string) => {
    pending += d;
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      child.lines.push(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  });
  proc.stderr!.setEncoding("utf8").on("data", (d: string) => (child.stderr += d));
  defer(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  });
  return child;
}

async function tagged(child: Child, tag: string, ms = 15_000): Promise<string> {
  await waitFor(() => child.lines.some((l) => l.split(" ")[0] === tag), ms, `the child to print ${tag} (stderr: ${child.stderr})`);
  const l = child.lines.find((x) => x.split(" ")[0] === tag)!;
  return l.slice(tag.length + 1);
}

interface Load {
  clients: WebSocket[];
  closes: (number | null)[];
  echoes: () => number;
  errors: string[];
}

/** Opens CLIENTS clients (100 at a time); each sends a message every 50 ms and counts echoes. */
async function loadOn(port: number): Promise<Load> {
  const clients: WebSocket[] = [];
  const closes: (number | null)[] = [];
  const errors: string[] = [];
  let echoes = 0;
  defer(() => clients.forEach((c) => c.terminate()));
  for (let base = 0; base < CLIENTS; base += 100) {
    await Promise.all(
      Array.from({ length: 100 }, (_, k) => {
        const i = base + k;
        const c = new WebSocket(`ws://127.0.0.1:${port}/`);
        clients.push(c);
        closes[i] = null;
        c.on("message", () => echoes++);
        c.on("error", (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message));
        c.on("close", (code) => {
          closes[i] = code;
          clearInterval(timer);
        });
        const payload = i % 10 === 0 ? Buffer.alloc(8192, i & 0xff) : `client ${i}`;
        const timer = setInterval(() => {
          if (c.readyState === WebSocket.OPEN) c.send(payload);
        }, 50);
        return withTimeout(new Promise((resolve) => c.once("open", resolve)), 15_000, `client ${i} to open`);
      }),
    );
  }
  return { clients, closes, echoes: () => echoes, errors };
}

/**
 * Starts the child in `mode` with CLIENTS clients on it (after it printed `readyTag` too, if
 * given) and waits until they got more than CLIENTS echoes since: traffic on every client.
 */
async function childUnderLoad(mode: string, readyTag?: string): Promise<{ child: Child; load: Load }> {
  const child = startChild(mode);
  const load = await loadOn(Number(await tagged(child, "LISTENING")));
  if (readyTag) await tagged(child, readyTag);
  const before = load.echoes();
  await waitFor(() => load.echoes() > before + CLIENTS, 15_000, "echo traffic on every client");
  return { child, load };
}

async function expectAllClosed(load: Load, codes: number[]): Promise<void> {
  await waitFor(() => load.closes.every((c) => c !== null), 15_000, "every client to see its connection close");
  const seen = new Map<number, number>();
  for (const c of load.closes) seen.set(c!, (seen.get(c!) ?? 0) + 1);
  for (const code of seen.keys()) expect(codes, `close codes seen: ${JSON.stringify([...seen])}`).toContain(code);
}

async function expectCleanExit(child: Child, ms = 10_000): Promise<void> {
  const exit = await withTimeout(child.exited, ms, `the child to exit by itself (stderr: ${child.stderr})`);
  expect(exit, child.stderr).toMatchObject({ code: 0, signal: null });
  expect(child.stderr).not.toMatch(/Error|Abort|Segmentation|FIXTURE FAILURE/);
}

describe(`shutdown while ${CLIENTS} clients send and receive`, () => {
  it("server.close(): every client sees 1001 and the process exits by itself", { timeout: 90_000 }, async () => {
    const { child, load } = await childUnderLoad("close");
    child.proc.stdin!.write("close\n");
    await tagged(child, "CLOSED");
    await expectAllClosed(load, [1001]);
    await expectCleanExit(child);
    expect(load.errors).toEqual([]);
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`${signal} with the graceful-shutdown recipe: every client sees 1001 and the process exits with 0`, { timeout: 90_000 }, async () => {
      const { child, load } = await childUnderLoad("signal", "READY");
      child.proc.kill(signal);
      expect(await tagged(child, "CLOSED")).toBe(JSON.stringify(signal));
      await expectAllClosed(load, [1001]);
      await expectCleanExit(child);
      expect(load.errors).toEqual([]);
    });
  }

  it("worker.terminate() of the Worker running the server: every client sees a close, the process exits with 0", { timeout: 90_000 }, async () => {
    const { child, load } = await childUnderLoad("terminate");
    child.proc.stdin!.write("terminate\n");
    await tagged(child, "TERMINATED");
    // The worker's environment is torn down: connections are closed (1001) or dropped (1006).
    await expectAllClosed(load, [1001, 1006]);
    await expectCleanExit(child);
    expect(child.lines.some((l) => l.startsWith("WORKER_ERROR")), child.lines.join("\n")).toBe(false);
  });
});
