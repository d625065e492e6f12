#!/usr/bin/env node
// Builds the addon (CMakeLists.txt) into build/cmake and places it at build/Release/lwsnode.node.
// Used by binding.gyp (the `node-gyp rebuild` fallback of node-gyp-build, when no prebuild fits)
// and by `npm run build:native`, so they share one CMake build. Extra arguments go to cmake-js.
//
// cmake-js is a development dependency: in a clone it drives the build. An installed package
// does not get it (users of the prebuild need none of its dependencies), so there this script
// drives cmake itself: configure, then build, against the running node's headers.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism, cpus, homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "package.json"));
const jobs = typeof availableParallelism === "function" ? availableParallelism() : cpus().length;
const out = join(root, "build", "cmake");
const release = join(root, "build", "Release");

// Run outside of node-gyp's make: its jobserver and variables mean nothing to cmake/ninja.
const env = { ...process.env };
for (const k of ["MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"]) delete env[k];

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, env, stdio: "inherit" });
  if (r.error) {
    console.error(`build-native: cannot run ${cmd}: ${r.error.message}`);
    process.exit(1);
  }
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// cmake-js may be hoisted above this package; LWSNODE_BUILD_WITH=cmake skips it (tests the
// path an installed package takes).
function cmakeJs() {
  if (env.LWSNODE_BUILD_WITH === "cmake") return undefined;
  try {
    return join(dirname(require.resolve("cmake-js/package.json")), "bin", "cmake-js");
  } catch {
    return undefined;
  }
}

// Node's headers (node_api.h, uv.h, openssl/, zlib.h): next to the running node in official
// builds, else node-gyp's download cache (which `node-gyp rebuild` fills before calling us).
function nodeHeaders() {
  const version = process.version.slice(1);
  const candidates = [
    resolve(process.execPath, "..", "..", "include", "node"),
    env.npm_config_devdir && join(env.npm_config_devdir, version, "include", "node"),
    join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "node-gyp", version, "include", "node"),
  ].filter(Boolean);
  return candidates.find((dir) => existsSync(join(dir, "node_api.h")) && existsSync(join(dir, "uv.h")));
}

const tool = cmakeJs();
if (tool) {
  run(process.execPath, [
    tool, "build",
    "--directory", root,
    "--out", out,
    "--parallel", String(jobs),
    `--CDLWSNODE_OUTPUT_DIR=${release}`,
    // Build against the node running this script (its headers, its exported uv/OpenSSL/zlib).
    `--CDNODE_EXECUTABLE=${process.execPath}`,
    ...process.argv.slice(2),
  ]);
} else {
  const headers = nodeHeaders();
  if (!headers) {
    console.error(`build-native: node's headers are not next to ${process.execPath} nor in node-gyp's cache; ` +
      "install them (e.g. `npx node-gyp install`) and retry");
    process.exit(1);
  }
  run("cmake", [
    "-S", root, "-B", out,
    "-DCMAKE_BUILD_TYPE=Release",
    `-DLWSNODE_OUTPUT_DIR=${release}`,
    `-DNODE_EXECUTABLE=${process.execPath}`,
    `-DNODE_INCLUDE_DIR=${headers}`,
  ]);
  run("cmake", ["--build", out, "--parallel", String(jobs)]);
}
