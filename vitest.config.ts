import { defineConfig } from "vitest/config";

export default defineConfig({
  // lib/package-root.cts is TypeScript too (CommonJS on purpose, see its header).
  esbuild: { include: /\.[cm]?tsx?$/ },
  test: {
    include: ["test/**/*.test.ts"],
    // The native addon and its I/O thread live in the test process: run each file in its own
    // child process (forks), one file at a time on this 2-core machine.
    pool: "forks",
    fileParallelism: false,
    testTimeout: 15_000,
    hookTimeout: 20_000,
    teardownTimeout: 10_000,
  },
});
