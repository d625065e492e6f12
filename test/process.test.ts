// Process lifetime: child processes (and a worker thread) running the built package from dist/.
import { beforeAll, describe, expect, it } from "vitest";
import { describeChild, expectExitedBySelf, line, msFromLineToExit, requireDist, runChild } from "./helpers.js";

beforeAll(requireDist);

describe("process lifetime", () => {
  it("exits by itself within 2 s after the server and its client are closed", { timeout: 20_000 }, async () => {
    const r = await runChild("echo-exit.mjs", [], 15_000);
    expectExitedBySelf(r);
    line(r, "ECHOED");
    expect(r.lines.some((l) => l.tag === "STILL_LISTENING")).toBe(false);
    const lingered = msFromLineToExit(r, "CLOSED");
    expect(lingered, `the process lingered ${Math.round(lingered)} ms after close`).toBeLessThan(2000);
  });

  it("exits by itself at once when the only server is unref()'d", { timeout: 15_000 }, async () => {
    const r = await runChild("keepalive.mjs", ["unref"], 10_000);
    expectExitedBySelf(r);
    expect(msFromLineToExit(r, "LISTENING")).toBeLessThan(1000);
  });

  it("an unref()'d server still serves while something else keeps the process alive, then lets it exit", { timeout: 15_000 }, async () => {
    const r = await runChild("keepalive.mjs", ["unref-serve"], 10_000);
    expectExitedBySelf(r);
    expect(msFromLineToExit(r, "SERVED")).toBeLessThan(2000);
  });

  // Alive 2 s after it started listening (killed then). Counted from LISTENING, not from the
  // spawn: on a loaded machine node's start alone can take longer than a spawn-based deadline.
  for (const [mode, title] of [
    ["ref", "a listening (ref'd) server keeps the process alive"],
    ["unref-ref", "ref() after unref() keeps the process alive again"],
  ] as const) {
    it(title, { timeout: 20_000 }, async () => {
      const r = await runChild("keepalive.mjs", [mode], 15_000, { killAfterLine: { tag: "LISTENING", ms: 2000 } });
      line(r, "LISTENING");
      expect(r.timedOut, `it should still be running when killed: ${describeChild(r)}`).toBe(true);
    });
  }

  for (const mode of ["idle", "busy", "handler"]) {
    it(`process.exit(0) with a listening server and a connected client exits promptly (${mode})`, { timeout: 20_000 }, async () => {
      const r = await runChild("exit-while-listening.mjs", [mode], 15_000);
      expectExitedBySelf(r);
      expect(msFromLineToExit(r, "EXITING")).toBeLessThan(2000);
    });
  }

  it("a handler that throws surfaces as an uncaught exception that ends the process", { timeout: 15_000 }, async () => {
    const r = await runChild("throw-in-handler.mjs", [], 10_000);
    expectExitedBySelf(r, 1);
    expect(r.stderr).toContain("boom-from-handler");
    expect(msFromLineToExit(r, "SENDING")).toBeLessThan(3000);
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
      expectExitedBySelf(r);
      expect(msFromLineToExit(r, "RESULT")).toBeLessThan(2000);
    },
  );
});
