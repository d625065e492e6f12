// test/helpers.ts needs(): a missing external tool skips only the tests that use it, with a
// one-line notice naming the Debian package, except under CI, where it fails.
import { afterEach, describe, expect, it, vi } from "vitest";
import { needs } from "./helpers.js";

const saved = { CI: process.env.CI, MISSING: process.env.LWSNODE_TEST_MISSING };
afterEach(() => {
  for (const [key, value] of [["CI", saved.CI], ["LWSNODE_TEST_MISSING", saved.MISSING]] as const) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  vi.restoreAllMocks();
});

describe("needs(tool)", () => {
  it("is true for the tools this machine has (after scripts/setup-debian.sh: all of them)", () => {
    delete process.env.LWSNODE_TEST_MISSING;
    for (const tool of ["chromium", "python3-websockets", "redis-server"] as const) expect(needs(tool, `the ${tool} tests`)).toBe(true);
  });

  it("locally, a missing tool gives false and one notice line naming the package to install", () => {
    delete process.env.CI;
    process.env.LWSNODE_TEST_MISSING = "redis-server";
    const lines: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    expect(needs("redis-server", "the Redis bridge tests")).toBe(false);
    expect(needs("redis-server", "the Redis bridge tests")).toBe(false); // noticed once
    expect(needs("chromium", "the browser test")).toBe(true);
    expect(lines).toEqual(["skipped: the Redis bridge tests (needs redis-server: apt-get install redis-server (or bash scripts/setup-debian.sh))\n"]);
  });

  it("under CI (CI=true) a missing tool throws, so the run fails", () => {
    process.env.CI = "true";
    process.env.LWSNODE_TEST_MISSING = "python3-websockets";
    expect(() => needs("python3-websockets", "the Python client tests")).toThrow(/python3-websockets is missing, needed by the Python client tests: apt-get install python3-websockets/);
  });
});
