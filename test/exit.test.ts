// process.exit() while wss:// traffic flows: the main thread's `exit` stops and joins every
// I/O thread before exit() runs OpenSSL's and libc's teardown, so no exit can crash, and every
// run exits with the code it asked for.
import { beforeAll, describe, expect, it } from "vitest";
import { describeChild, line, requireDist, runChild, type ChildResult } from "./helpers.js";
import { makeCa } from "./tls-certs.js";

beforeAll(() => {
  requireDist();
  const { cert, key } = makeCa();
  process.env.LWSNODE_TEST_CERT = cert;
  process.env.LWSNODE_TEST_KEY = key;
});

const RUNS = 40;
const PARALLEL = 8;

describe("process.exit() during wss:// traffic between a server and clients of the same process", () => {
  it(`${RUNS} runs at random moments (from a timer and from inside handlers) all exit with their code, I/O threads joined first`, { timeout: 120_000 }, async () => {
    const results: { code: number; mode: string; delay: number; r: ChildResult }[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < RUNS) {
        const i = next++;
        const code = 3 + (i % 60);
        const mode = i % 3 === 2 ? "handler" : "timer";
        const delay = mode === "timer" ? Math.floor(Math.random() * 150) : 1 + Math.floor(Math.random() * 200);
        results.push({ code, mode, delay, r: await runChild("exit-during-wss.mjs", [String(code), String(delay), mode], 30_000) });
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    expect(results).toHaveLength(RUNS);
    for (const { code, mode, delay, r } of results) {
      const what = `${mode} ${delay}: ${describeChild(r)}`;
      expect(r.timedOut, what).toBe(false);
      expect(r.signal, what).toBe(null);
      expect(r.code, what).toBe(code);
      expect(line(r, "TRAFFIC").value, what).toBeGreaterThan(0); // the I/O thread is visible by name
      expect(line(r, "IO_THREADS").value, what).toBe(0);
      expect(r.stderr, what).not.toMatch(/AddressSanitizer|Segmentation|Aborted|FATAL/);
    }
  });
});
