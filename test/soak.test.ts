// A short run of the soak script (scripts/soak.mjs; npm run soak -- --minutes 10 for the real
// thing): 100 clients for 15 s with reconnect churn; every numbered message arrives exactly once
// and in order per connection, the server's RSS is flat after warm-up, and it exits cleanly.
import { spawn } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { ROOT, requireDist, useCleanup, withTimeout } from "./helpers.js";

beforeAll(requireDist);
const defer = useCleanup();

describe("soak (short)", () => {
  it("15 s, 100 clients: nothing lost, duplicated or reordered; RSS flat; the server exits by itself", { timeout: 60_000 }, async () => {
    const proc = spawn(process.execPath, ["scripts/soak.mjs", "--seconds", "15", "--clients", "100"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    defer(() => proc.kill("SIGKILL"));
    let out = "";
    proc.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    proc.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
    const code = await withTimeout(new Promise<number | null>((resolve) => proc.once("exit", resolve)), 50_000, "the soak run");
    const line = out.split("\n").find((l) => l.startsWith("SOAK "));
    expect(line, out).toBeDefined();
    const v = JSON.parse(line!.slice(5)) as Record<string, unknown>;
    expect(v, out).toMatchObject({ lost: 0, duplicated: 0, reordered: 0, errors: 0, rssFlat: true, serverExit: 0, ok: true });
    expect(v.echoed as number).toBeGreaterThan(100 * 15 * 10); // most of the 20/s per client
    expect(v.streamed as number).toBeGreaterThan(100 * 15 * 5);
    expect(v.reconnects as number).toBeGreaterThan(0);
    expect(code, out).toBe(0);
  });
});
