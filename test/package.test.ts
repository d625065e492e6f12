// The published package: a self-contained prebuild, a tarball holding only what users need, and
// an install from that tarball that loads the prebuild (no compiler reachable) from both
// `import` and `require`, with types for both.
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURES, ROOT } from "./helpers.js";

const PREBUILD = join(ROOT, "prebuilds", `${process.platform}-${process.arch}`, "lwsnode.node");
const NPM_CLI = join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "bin", "npm-cli.js");
const npmEnv: NodeJS.ProcessEnv = { ...process.env, npm_config_update_notifier: "false", npm_config_fund: "false", npm_config_audit: "false" };
// A user's environment: no addon override, no sanitizer runtime (npm run test:asan sets both).
delete npmEnv.LWSNODE_ADDON;
delete npmEnv.LD_PRELOAD;

// Asynchronous, so that minutes of npm never block the test worker (vitest's RPC with it would
// time out: "Timeout calling onTaskUpdate").
function run(file: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeout: number }): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { ...options, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const status = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : null) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}

async function npm(args: string[], cwd: string, env: NodeJS.ProcessEnv = npmEnv, timeout = 120_000): Promise<string> {
  const r = await run(process.execPath, [NPM_CLI, ...args], { cwd, env, timeout });
  if (r.status !== 0) throw new Error(`npm ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

let work = "";
let app = "";
/** What `npm pack` put in the tarball, as paths relative to the package root. */
let packed: string[] = [];

beforeAll(async () => {
  // The prebuild comes from the script releases use. It reuses the CMake build (only strips and
  // relinks when the addon is up to date), so the prebuild tested is always the current sources'.
  await npm(["run", "prebuildify"], ROOT, npmEnv, 600_000);
  if (!existsSync(join(ROOT, "dist", "cjs", "package.json"))) throw new Error("dist/ is incomplete: run `npm run build:ts`");
  work = mkdtempSync(join(tmpdir(), "lwsnode-pack-"));
  const [tarball] = JSON.parse(await npm(["pack", "--json", "--ignore-scripts", "--pack-destination", work], ROOT)) as {
    filename: string;
    files: { path: string }[];
  }[];
  packed = tarball!.files.map((f) => f.path).sort();

  // A PATH with node, npm and sh (npm runs scripts with it) only: no cc, c++, g++, make or cmake.
  const bin = join(work, "bin");
  mkdirSync(bin);
  symlinkSync("/bin/sh", join(bin, "sh"));
  symlinkSync(process.execPath, join(bin, "node"));
  symlinkSync(NPM_CLI, join(bin, "npm"));
  app = join(work, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true }));
  for (const f of readdirSync(FIXTURES + "consumer")) copyFileSync(join(FIXTURES, "consumer", f), join(app, f));
  const noCompiler = { ...npmEnv, PATH: bin, CC: "false", CXX: "false", npm_config_prefer_offline: "true" };
  await npm(["install", "--no-package-lock", join(work, tarball!.filename)], app, noCompiler, 180_000);
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the prebuild (npm run prebuildify)", () => {
  it("lands where node-gyp-build looks for a Node-API build of this platform", () => {
    expect(existsSync(PREBUILD)).toBe(true);
  });

  it("links only against libc, libm, libstdc++ and libgcc", () => {
    const libs = execFileSync("ldd", [PREBUILD], { encoding: "utf8" })
      .split("\n")
      .map((l) => l.trim().split(/\s+/)[0] ?? "")
      .filter(Boolean);
    expect(libs).toContain("libc.so.6");
    for (const lib of libs) expect(lib).toMatch(/^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libstdc\+\+\.so\.6|libgcc_s\.so\.1|\/lib64\/ld-linux-x86-64\.so\.2)$/);
  });

  it("is stripped and every symbol it imports is exported by node", () => {
    const sections = execFileSync("readelf", ["-S", "--wide", PREBUILD], { encoding: "utf8" });
    expect(sections).toMatch(/\.dynsym/);
    expect(sections).not.toMatch(/\.symtab|\.debug_/);
    const out = execFileSync("bash", [join(ROOT, "scripts", "check-addon-symbols.sh"), PREBUILD, process.execPath], { encoding: "utf8" });
    expect(out).toMatch(/check-addon-symbols: ok \(\d+ imports resolved, 2 exports\)/);
  });
});

describe("npm pack", () => {
  it("ships the prebuild, both builds with their types, and the sources of the fallback build, nothing else", () => {
    const files = packed;
    const allowed =
      /^(package\.json|README\.md|LICENSE|CMakeLists\.txt|binding\.gyp|bin\/lwsnode\.mjs|bench\/loadgen\.c|prebuilds\/linux-(x64|arm64)\/lwsnode\.node|native\/[a-z0-9_]+\.(cc|h)|scripts\/(build-native\.mjs|fetch-lws\.sh|check-addon-symbols\.sh|lws-patches\/.+)|dist\/(cjs\/)?(pubsub\/)?[a-z-]+\.(js|d\.ts|cjs|d\.cts)|dist\/cjs\/package\.json)$/;
    expect(files.filter((f) => !allowed.test(f))).toEqual([]);
    for (const f of ["LICENSE", "prebuilds/linux-x64/lwsnode.node", "dist/index.js", "dist/index.d.ts", "dist/cjs/index.js", "dist/cjs/index.d.ts", "dist/cjs/package.json", "native/addon.cc", "CMakeLists.txt", "binding.gyp", "scripts/build-native.mjs", "scripts/fetch-lws.sh"]) {
      expect(files).toContain(f);
    }
    // The cross-built arm64 prebuild (`npm run prebuildify:arm64`) ships whenever it was built.
    if (existsSync(join(ROOT, "prebuilds", "linux-arm64", "lwsnode.node"))) {
      expect(files).toContain("prebuilds/linux-arm64/lwsnode.node");
    }
    expect(files.some((f) => /^(test|lib|examples|docs|build|node_modules)\/|^bench\/(?!loadgen\.c$)|\.map$|\.tsbuildinfo$/.test(f))).toBe(false);
  });
});

describe("installing the tarball into a fresh project without a compiler", () => {
  const pkg = () => join(app, "node_modules", "lwsnode");

  it("installs next to nothing: lwsnode, node-gyp-build and node-addon-api (headers for a source build), under 2.5 MB (+ other platforms' prebuilds)", () => {
    // Every package directory under node_modules, nested ones included.
    const packages: string[] = [];
    const walk = (dir: string, prefix: string): void => {
      if (!existsSync(dir)) return;
      for (const name of readdirSync(dir)) {
        if (name.startsWith(".")) continue;
        if (name.startsWith("@")) {
          walk(join(dir, name), `${prefix}${name}/`);
          continue;
        }
        if (!existsSync(join(dir, name, "package.json"))) continue;
        packages.push(prefix + name);
        walk(join(dir, name, "node_modules"), `${prefix}${name}>`);
      }
    };
    walk(join(app, "node_modules"), "");
    const bytes = Number(execFileSync("du", ["-sb", join(app, "node_modules")], { encoding: "utf8" }).split("\t")[0]);
    console.log(`installed: ${packages.length} packages (${packages.join(", ")}), ${(bytes / 1e6).toFixed(2)} MB`);
    expect(packages.sort()).toEqual(["lwsnode", "node-addon-api", "node-gyp-build"]);
    // Prebuilds for other platforms (linux-arm64 when it was cross-built) come on top of the bound.
    const others = packed
      .filter((f) => f.startsWith("prebuilds/") && !f.startsWith(`prebuilds/${process.platform}-${process.arch}/`))
      .reduce((sum, f) => sum + statSync(join(ROOT, f)).size, 0);
    expect(bytes).toBeLessThan(2_500_000 + others);
  });

  it("compiles nothing: node-gyp-build finds the prebuild", () => {
    expect(existsSync(join(pkg(), "prebuilds", "linux-x64", "lwsnode.node"))).toBe(true);
    expect(existsSync(join(pkg(), "build")), "a build/ directory means the install tried to compile").toBe(false);
  });

  for (const [how, script, text] of [
    ["import", "esm.mjs", "hello from import"],
    ["require", "cjs.cjs", "hello from require"],
  ] as const) {
    it(`echoes a message through the installed package loaded with ${how}`, { timeout: 30_000 }, () => {
      const r = spawnSync(process.execPath, ["--experimental-websocket", "--no-warnings", script], {
        cwd: app,
        env: npmEnv,
        encoding: "utf8",
        timeout: 15_000,
      });
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toContain(`ECHO ${text}\n`);
      expect(r.stdout).toContain(`ADDON ${join(pkg(), "prebuilds", "linux-x64", "lwsnode.node")}\n`);
    });
  }

  // tsc needs ~8 s of CPU here (13 s when it also checks TypeScript's own lib.*.d.ts, which says
  // nothing about lwsnode: --skipDefaultLibCheck); on a 2-core machine shared with other builds
  // that took over 80 s of wall time, so the bound against a hang leaves room for that.
  it("type-checks an ES module and a CommonJS module that use it", { timeout: 160_000 }, async () => {
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const r = await run(
      process.execPath,
      [tsc, "--noEmit", "--strict", "--skipDefaultLibCheck", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022",
        "--typeRoots", join(ROOT, "node_modules", "@types"), "--types", "node", "types.mts", "types.cts"],
      { cwd: app, timeout: 150_000 },
    );
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });
});
