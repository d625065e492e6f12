#!/usr/bin/env node
// Builds the addon with cmake-js into build/cmake and places it at build/Release/lwsnode.node.
// Used by binding.gyp (the `node-gyp rebuild` fallback of node-gyp-build) so that node-gyp and
// `npm run build:native` share one CMake build. Extra arguments are passed to cmake-js.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { availableParallelism, cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "package.json"));
// cmake-js may be hoisted above this package when it is installed as a dependency.
const cmakeJs = join(dirname(require.resolve("cmake-js/package.json")), "bin", "cmake-js");
const jobs = typeof availableParallelism === "function" ? availableParallelism() : cpus().length;

// Run outside of node-gyp's make: its jobserver and variables mean nothing to cmake/ninja.
const env = { ...process.env };
for (const k of ["MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"]) delete env[k];

const args = [
  cmakeJs, "build",
  "--directory", root,
  "--out", join(root, "build", "cmake"),
  "--parallel", String(jobs),
  `--CDLWSNODE_OUTPUT_DIR=${join(root, "build", "Release")}`,
  // Build against the node running this script (its headers, its exported uv/OpenSSL/zlib).
  `--CDNODE_EXECUTABLE=${process.execPath}`,
  ...process.argv.slice(2),
];
const r = spawnSync(process.execPath, args, { cwd: root, env, stdio: "inherit" });
if (r.error) throw r.error;
process.exit(r.status ?? 1);
