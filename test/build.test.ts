// The built addon is self-contained: libwebsockets is linked in statically with its symbols
// hidden, and uv, OpenSSL and zlib resolve against the node binary, not shared libraries.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./helpers.js";

const addon = join(ROOT, "build", "Release", "lwsnode.node");

describe("the built addon", () => {
  it("exists where node-gyp-build loads it", () => {
    expect(existsSync(addon), `${addon} (run npm install)`).toBe(true);
  });

  it("depends on no shared libwebsockets, libuv, libssl, libcrypto or libz", () => {
    const ldd = execFileSync("ldd", [addon], { encoding: "utf8" });
    const libs = ldd
      .split("\n")
      .map((l) => l.trim().split(/\s+/)[0] ?? "")
      .filter(Boolean);
    expect(libs.length).toBeGreaterThan(0);
    for (const lib of libs) expect(lib).not.toMatch(/websockets|libuv|libssl|libcrypto|libz\./);
  });

  it("exports only the Node-API entry points (lws symbols are hidden)", () => {
    const nm = execFileSync("nm", ["-D", "--defined-only", addon], { encoding: "utf8" });
    const exported = nm
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 3 && /[TWDBRV]/.test(f[1]!))
      .map((f) => f[2]!);
    expect(exported.sort()).toEqual(["napi_register_module_v1", "node_api_module_get_api_version_v1"]);
    const undefinedSyms = execFileSync("nm", ["-D", "--undefined-only", addon], { encoding: "utf8" });
    expect(undefinedSyms).toMatch(/\buv_loop_init\b/); // uv comes from node at load time
    expect(undefinedSyms).toMatch(/\bSSL_CTX_new\b/); // so does OpenSSL
  });
});
