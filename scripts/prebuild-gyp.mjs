#!/usr/bin/env node
// Stands in for node-gyp when prebuildify builds (`npm run prebuildify`): prebuildify calls
// `<node-gyp> rebuild --target=… --devdir=… --arch=… --release` and then takes the addon from
// build/Release/. Real node-gyp would first delete build/ (and with it the cached libwebsockets
// build) and fetch headers for --target; a Node-API addon needs neither, so this runs the same
// CMake build as `npm run build:native` and the install-time fallback (scripts/build-native.mjs).
import { spawnSync } from "node:child_process";
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
const target = option("arch");
if (target && target !== arch()) {
  console.error(`prebuild-gyp: cannot cross-compile for ${target} on ${arch()}`);
  process.exit(2);
}
const script = join(dirname(fileURLToPath(import.meta.url)), "build-native.mjs");
const r = spawnSync(process.execPath, [script], { stdio: "inherit" });
if (r.error) throw r.error;
process.exit(r.status ?? 1);
