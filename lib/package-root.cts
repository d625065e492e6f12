// The package's root directory, where node-gyp-build looks for build/ and prebuilds/. A CommonJS
// module on purpose: __dirname works in both builds (dist/ and dist/cjs/), while the ESM-only
// import.meta.url cannot even be parsed by the CommonJS build.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

function findRoot(start: string): string {
  // dist/package-root.cjs or dist/cjs/package-root.cjs: the first package.json naming us.
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "lwsnode") {
      return dir;
    }
    if (dirname(dir) === dir) return join(start, "..");
  }
}

/** Absolute path of the lwsnode package directory. */
export const packageRoot: string = findRoot(__dirname);
