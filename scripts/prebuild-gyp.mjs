#!/usr/bin/env node
// Stands in for node-gyp when prebuildify builds (`npm run prebuildify`): prebuildify calls
// `<node-gyp> rebuild --target=… --devdir=… --arch=… --release` and then takes the addon from
// build/Release/. Real node-gyp would first delete build/ (and with it the cached libwebsockets
// build) and fetch headers for --target; a Node-API addon needs neither, so this runs the same
// CMake build as `npm run build:native` and the install-time fallback (scripts/build-native.mjs).
// With --arch=arm64 on linux-x64 it cross-compiles instead (`npm run prebuildify:arm64`).
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync } from "node:fs";
import { arch } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
if (args[0] !== "rebuild") {
  console.error(`prebuild-gyp: only "rebuild" is supported, got: ${args.join(" ")}`);
  process.exit(2);
}
if (args.includes("--debug")) {
  console.error("prebuild-gyp: prebuilds are release builds");
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const target = option("arch");
function run(cmd, cmdArgs) {
  const r = spawnSync(cmd, cmdArgs, { stdio: "inherit" });
  if (r.error) throw r.error;
  if (r.status !== 0) process.exit(r.status ?? 1);
}
if (target && target !== arch()) {
  // The one cross build: linux-arm64 from linux-x64 (scripts/cross-arm64.sh, Debian's aarch64
  // toolchain). Its output goes where prebuildify looks, build/Release/; `cross-arm64.sh
  // prebuild` puts the native addon back afterwards.
  if (target !== "arm64" || arch() !== "x64" || process.platform !== "linux") {
    console.error(`prebuild-gyp: cannot cross-compile for ${target} on ${process.platform}-${arch()}`);
    process.exit(2);
  }
  run("bash", [join(here, "cross-arm64.sh"), "build"]);
  const release = join(here, "..", "build", "Release");
  mkdirSync(release, { recursive: true });
  copyFileSync(join(here, "..", "build", "cross-arm64", "Release", "lwsnode.node"), join(release, "lwsnode.node"));
  process.exit(0);
}
run(process.execPath, [join(here, "build-native.mjs")]);
process.exit(0);
