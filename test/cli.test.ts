// The lwsnode command line (bin/lwsnode.mjs), run as a user runs it: `lwsnode serve`,
// `lwsnode connect` fed on stdin, `lwsnode bench`; exit codes included.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { openClient, nextMessage, requireDist, ROOT, startServer, urlOf, useCleanup, waitFor, withTimeout } from "./helpers.js";

const defer = useCleanup();
const CLI = join(ROOT, "bin", "lwsnode.mjs");

beforeAll(() => requireDist());

interface Run {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function cli(args: string[]): Run {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: "pipe" });
  let out = "";
  let err = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  const exited = once(child, "exit").then(([code]) => code as number | null);
  defer(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function exitOf(run: Run, ms = 15_000): Promise<number | null> {
  return withTimeout(run.exited, ms, `lwsnode to exit (stdout: ${run.stdout()} stderr: ${run.stderr()})`);
}

describe("lwsnode serve", () => {
  it("--echo prints its address and echoes; SIGINT stops it with status 0", { timeout: 30_000 }, async () => {
    const run = cli(["serve", "--port", "0", "--echo"]);
    await waitFor(() => /ws:\/\/127\.0\.0\.1:\d+\//.test(run.stdout()), 10_000, "the address");
    const url = /ws:\/\/127\.0\.0\.1:\d+\//.exec(run.stdout())![0];
    const client = await openClient(url);
    client.send("hello");
    expect((await nextMessage(client)).data.toString()).toBe("hello");
    client.close();
    run.child.kill("SIGINT");
    expect(await exitOf(run)).toBe(0);
  });

  it("--broadcast sends each message to every client", { timeout: 30_000 }, async () => {
    const run = cli(["serve", "--port", "0", "--broadcast"]);
    await waitFor(() => /ws:\/\/\S+/.test(run.stdout()), 10_000, "the address");
    const url = /ws:\/\/\S+/.exec(run.stdout())![0];
    const [a, b] = [await openClient(url), await openClient(url)];
    defer(() => a.terminate());
    defer(() => b.terminate());
    const atB = nextMessage(b);
    a.send("to all");
    expect((await atB).data.toString()).toBe("to all");
    expect((await nextMessage(a)).data.toString()).toBe("to all");
    run.child.kill("SIGINT");
    expect(await exitOf(run)).toBe(0);
  });

  it("a port in use exits 1 naming the error code; a bad option exits 2 with the usage", { timeout: 30_000 }, async () => {
    const server = await startServer(defer);
    const busy = cli(["serve", "--port", String(server.port)]);
    expect(await exitOf(busy)).toBe(1);
    expect(busy.stderr()).toContain("EADDRINUSE");
    const bad = cli(["serve", "--echo", "--broadcast"]);
    expect(await exitOf(bad)).toBe(2);
    expect(bad.stderr()).toContain("usage:");
    expect(await exitOf(cli(["nonsense"]))).toBe(2);
  });
});

describe("lwsnode connect", () => {
  it("sends stdin lines as messages, prints messages, sends the headers and subprotocol asked for, exits 0 after stdin ends", { timeout: 30_000 }, async () => {
    const seen: { headers: Record<string, unknown>; protocol: string; messages: string[] } = { headers: {}, protocol: "", messages: [] };
    const server = await startServer(defer, {
      captureHeaders: ["x-token"],
      open(ws) {
        seen.headers = ws.headers;
        seen.protocol = ws.protocol;
      },
      message(ws, data) {
        seen.messages.push(data.toString());
        ws.send(`echo:${data.toString()}`);
      },
    });
    const run = cli(["connect", urlOf(server), "-H", "X-Token: abc", "--subprotocol", "chat", "--wait", "1000"]);
    await waitFor(() => run.stderr().includes("connected"), 10_000, "connected");
    run.child.stdin.write("one\ntwo\n");
    await waitFor(() => run.stdout() === "echo:one\necho:two\n", 10_000, "two echoes on stdout");
    run.child.stdin.end();
    expect(await exitOf(run)).toBe(0);
    expect(seen.messages).toEqual(["one", "two"]);
    expect(seen.headers).toEqual({ "x-token": "abc" });
    expect(seen.protocol).toBe("chat");
    expect(run.stderr()).toContain("closed 1000");
  });

  it("--binary sends hex lines as binary and prints binary messages as hex; /ping pings", { timeout: 30_000 }, async () => {
    const got: { binary: boolean; bytes: number[] }[] = [];
    let pings = 0;
    const server = await startServer(defer, {
      message(ws, data, isBinary) {
        got.push({ binary: isBinary, bytes: [...data] });
        ws.send(data, isBinary);
      },
      ping: () => void pings++,
    });
    const run = cli(["connect", urlOf(server), "--binary"]);
    await waitFor(() => run.stderr().includes("connected"), 10_000, "connected");
    run.child.stdin.write("00ff10\n/ping hi\n");
    await waitFor(() => run.stdout() === "00ff10\n", 10_000, "the hex echo");
    await waitFor(() => run.stderr().includes("pong hi"), 10_000, "the pong");
    expect(got).toEqual([{ binary: true, bytes: [0, 255, 16] }]);
    expect(pings).toBe(1);
    run.child.stdin.write("/close 4001 done\n");
    expect(await exitOf(run)).toBe(3); // closed with a code other than 1000/1005
  });

  it("exits 1 when it cannot connect, 3 when the server drops it", { timeout: 30_000 }, async () => {
    const refused = cli(["connect", "ws://127.0.0.1:1/"]);
    expect(await exitOf(refused)).toBe(1);
    expect(refused.stderr()).toContain("ECONNREFUSED");

    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await once(wss, "listening");
    defer(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    wss.on("connection", (s: WebSocket) => setTimeout(() => s.terminate(), 100));
    const dropped = cli(["connect", `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`]);
    expect(await exitOf(dropped)).toBe(3);
    expect(dropped.stderr()).toContain("closed 1006");
  });
});

describe("lwsnode bench", () => {
  it("compiles the load generator and runs it against an echo server: a JSON result with messages counted", { timeout: 120_000 }, async () => {
    const server = await startServer(defer, { message: (ws, d, b) => void ws.send(d, b) });
    const run = cli(["bench", urlOf(server), "--mode", "echo", "--conns", "4", "--duration", "1", "--warmup", "0.2"]);
    expect(await exitOf(run, 110_000)).toBe(0);
    const result = JSON.parse(run.stdout().trim().split("\n").pop()!) as Record<string, unknown>;
    expect(result).toMatchObject({ mode: "echo", conns: 4, errors: 0 });
    expect(result.msgs).toBeGreaterThan(0);
  });
});
