// The benchmark's plumbing (bench/run.mjs + the native load generator + two peers), run with
// tiny durations. Asserts the shape of the JSON it writes, never speed.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "lwsnode-bench-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], ms: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "bench", "run.mjs"), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGTERM");
      reject(new Error(`bench did not finish within ${ms} ms\n${stdout}\n${stderr}`));
    }, ms);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const positive = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v > 0;

describe("bench", () => {
  it("quick run of echo and storm against lwsnode and ws writes well-formed results", { timeout: 60_000 }, async () => {
    const json = join(dir, "results.json");
    const args = ["--quick", "--peers", "lwsnode,ws", "--scenarios", "echo,storm", "--duration", "1", "--warmup", "0.2"];
    const r = await run([...args, "--no-install", "--json", json], 55_000);
    expect(r.code, r.stdout + r.stderr).toBe(0);

    const report = JSON.parse(readFileSync(json, "utf8"));
    expect(report.quick).toBe(true);
    expect(report.runs).toBe(1);
    expect(report.machine.node).toBe(process.version);
    expect(positive(report.machine.cores)).toBe(true);
    expect(typeof report.machine.cpu).toBe("string");
    expect(Object.keys(report.peers).sort()).toEqual(["lwsnode", "ws"]);
    for (const p of ["lwsnode", "ws"]) expect(report.peers[p].skipped, `${p} skipped`).toBeUndefined();

    const echo = report.scenarios.echo.metrics.echo;
    expect(echo.metric).toBe("msgs_per_s");
    for (const p of ["lwsnode", "ws"]) {
      const e = echo.peers[p];
      expect(e.errors, `${p} echo errors`).toBeUndefined();
      for (const k of ["median", "min", "max", "p50_us", "p99_us", "loadgen_cpu_share"]) expect(positive(e[k]), `${p} echo ${k}=${e[k]}`).toBe(true);
      const raw = report.raw.echo[p][0];
      for (const k of ["msgs", "msgs_per_s", "seconds", "js_cpu_per_100k", "proc_cpu_per_100k"]) expect(positive(raw[k]), `${p} raw ${k}=${raw[k]}`).toBe(true);
      expect(raw.errors).toBe(0);
    }
    expect(positive(echo.peers.ws.ratio.median)).toBe(true);

    const storm = report.scenarios.storm.metrics;
    for (const p of ["lwsnode", "ws"]) {
      expect(positive(storm.storm.peers[p].median), `${p} connections/s`).toBe(true);
      expect(positive(storm["storm-rss"].peers[p].median), `${p} RSS per connection`).toBe(true);
      expect(report.raw.storm[p][0].connected).toBe(2000);
    }
    // the terminal table names both peers
    expect(r.stdout).toMatch(/echo\s+lwsnode\s/);
    expect(r.stdout).toMatch(/echo\s+ws\s/);
  });
});
