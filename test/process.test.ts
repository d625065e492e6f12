// Process lifetime: child processes (and a worker thread) running the built package from dist/.
import { beforeAll, describe, expect, it } from "vitest";
import { describeChild, line, requireDist, runChild } from "./helpers.js";

beforeAll(requireDist);

describe("process lifetime", () => {
  it("exits by itself within 2 s after the server and its client are closed", { timeout: 20_000 }, async () => {
    const r = await runChild("echo-exit.mjs", [], 15_000);
    expect(r.timedOut, describeChild(r)).toBe(false);
    expect(r.code, describeChild(r)).toBe(0);
    line(r, "ECHOED");
    expect(r.lines.some((l) => l.tag === "STILL_LISTENING")).toBe(false);
    const closedAt = line(r, "CLOSED").at;
    const lingered = r.exitedAt - closedAt;
    expect(lingered, `the process lingered ${Math.round(lingered)} ms after close`).toBeLessThan(2000);
  });

  it("exits by itself at once when the only server is unref()'d", { timeout: 15_000 }, async () => {
    const r = await runChild("keepalive.mjs", ["unref"], 10_000);
    expect(r.timedOut, describeChild(r)).toBe(false);
    expect(r.code, describeChild(r)).toBe(0);
    const listeningAt = line(r, "LISTENING").at;
    expect(r.exitedAt - listeningAt).toBeLessThan(1000);
  });

  it("an unref()'d server still serves while something else keeps the process alive, then lets it exit", { timeout: 15_000 }, async () => {
    const r = await runChild("keepalive.mjs", ["unref-serve"], 10_000);
    expect(r.timedOut, describeChild(r)).toBe(false);
    expect(r.code, describeChild(r)).toBe(0);
    const servedAt = line(r, "SERVED").at;
    expect(r.exitedAt - servedAt).toBeLessThan(2000);
  });

  it("a listening (ref'd) server keeps the process alive", { timeout: 15_000 }, async () => {
    const r = await runChild("keepalive.mjs", ["ref"], 2500);
    line(r, "LISTENING");
    expect(r.timedOut, `it should still be running when killed: ${describeChild(r)}`).toBe(true);
  });

  it("ref() after unref() keeps the process alive again", { timeout: 15_000 }, async () => {
    const r = await runChild("keepalive.mjs", ["unref-ref"], 2500);
    line(r, "LISTENING");
    expect(r.timedOut, `it should still be running when killed: ${describeChild(r)}`).toBe(true);
  });

  for (const mode of ["idle", "busy", "handler"]) {
    it(`process.exit(0) with a listening server and a connected client exits promptly (${mode})`, { timeout: 20_000 }, async () => {
      const r = await runChild("exit-while-listening.mjs", [mode], 15_000);
      expect(r.timedOut, describeChild(r)).toBe(false);
      expect(r.signal, describeChild(r)).toBeNull();
      expect(r.code, describeChild(r)).toBe(0);
      const exitingAt = line(r, "EXITING").at;
      expect(r.exitedAt - exitingAt).toBeLessThan(2000);
    });
  }

  it("a handler that throws surfaces as an uncaught exception that ends the process", { timeout: 15_000 }, async () => {
    const r = await runChild("throw-in-handler.mjs", [], 10_000);
    expect(r.timedOut, describeChild(r)).toBe(false);
    expect(r.signal, describeChild(r)).toBeNull();
    expect(r.code, describeChild(r)).toBe(1);
    expect(r.stderr).toContain("boom-from-handler");
    expect(r.exitedAt - line(r, "SENDING").at).toBeLessThan(3000);
  });
});

describe("worker threads", () => {
  it(
    "terminating a Worker that runs a server mid-traffic: its clients see the end, the main thread keeps working",
    { timeout: 60_000 },
    async () => {
      const r = await runChild("worker-terminate.mjs", [], 45_000);
      const result = line(r, "RESULT").value as {
        echoesBeforeTerminate: number;
        terminateMs: number;
        clients: { closeCode: number | null; error: string | null }[];
        clientsWait?: string;
        mainEcho?: boolean;
        portReusable?: boolean | string;
        secondWorkerClosed?: boolean;
        secondWorkerExitCode?: number | null;
        secondWorkerExitMs?: number;
        secondWorkerExit?: string;
        workerErrors?: string[];
      };
      const summary = JSON.stringify(result);
      expect(result.echoesBeforeTerminate, summary).toBeGreaterThanOrEqual(500);
      expect(result.terminateMs, summary).toBeLessThan(5000);
      expect(result.workerErrors, summary).toBeUndefined();
      // Every client saw its connection end (close event; an error may precede it).
      expect(result.clientsWait, summary).toBeUndefined();
      expect(result.clients).toHaveLength(10);
      for (const c of result.clients) expect(c.closeCode, summary).toEqual(expect.any(Number));
      // The main thread still serves, and the terminated worker's port was released.
      expect(result.mainEcho, summary).toBe(true);
      expect(result.portReusable, summary).toBe(true);
      // A new worker can run a server again and exit by itself once it closes it.
      expect(result.secondWorkerClosed, summary).toBe(true);
      expect(result.secondWorkerExit, summary).toBeUndefined();
      expect(result.secondWorkerExitCode, summary).toBe(0);
      expect(result.secondWorkerExitMs, summary).toBeLessThan(2000);
      // And the whole process then exits by itself, cleanly.
      expect(r.timedOut, describeChild(r)).toBe(false);
      expect(r.signal, describeChild(r)).toBeNull();
      expect(r.code, describeChild(r)).toBe(0);
      expect(r.exitedAt - line(r, "RESULT").at).toBeLessThan(2000);
    },
  );
});
