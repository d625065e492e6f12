// lib/'s imports run one way (README, Architecture): shared cores and options below the classes
// that use them, no cycles (type-only imports included), and the client never leans on the server.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const LIB = resolve(new URL("../lib/", import.meta.url).pathname);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : /\.c?ts$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

// module (relative to lib/, e.g. "server.ts") -> the lib modules it imports or re-exports from.
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(LIB)) {
    const text = readFileSync(file, "utf8");
    const targets = [...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.{1,2}\/[^"]+)"/gms)].map((m) =>
      relative(LIB, resolve(dirname(file), m[1]!.replace(/\.js$/, ".ts").replace(/\.cjs$/, ".cts"))),
    );
    graph.set(relative(LIB, file), targets);
  }
  return graph;
}

function cycles(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (m: string): void => {
    state.set(m, "open");
    path.push(m);
    for (const d of graph.get(m) ?? []) {
      if (state.get(d) === "open") found.push([...path.slice(path.indexOf(d)), d].join(" -> "));
      else if (!state.has(d)) visit(d);
    }
    path.pop();
    state.set(m, "done");
  };
  for (const m of graph.keys()) if (!state.has(m)) visit(m);
  return found;
}

describe("lib/ layout", () => {
  const graph = importGraph();

  it("every relative import names a module that exists", () => {
    const missing = [...graph].flatMap(([m, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${m} -> ${d}`));
    expect(graph.size).toBeGreaterThan(20);
    expect(missing).toEqual([]);
  });

  it("has no import cycles, type-only imports included", () => {
    expect(cycles(graph)).toEqual([]);
  });

  it("the client modules import nothing from the server modules", () => {
    const client = [...graph.keys()].filter((m) => /^(client|websocket|reconnect|keepalive)/.test(m));
    expect(client).toContain("client.ts");
    const leaks = client.flatMap((m) => graph.get(m)!.filter((d) => /^server/.test(d)).map((d) => `${m} -> ${d}`));
    expect(leaks).toEqual([]);
  });

  it("the shared socket core and option checks sit below both socket classes", () => {
    const classes = ["server.ts", "server-websocket.ts", "client.ts"];
    const below = ["socket-core.ts", "send-args.ts", "option-checks.ts", "defaults.ts", "resolve-host.ts"];
    const reaches = (from: string, seen = new Set<string>()): Set<string> => {
      for (const d of graph.get(from) ?? []) if (!seen.has(d)) reaches(d, seen.add(d));
      return seen;
    };
    const upward = below.flatMap((m) => [...reaches(m)].filter((d) => classes.includes(d)).map((d) => `${m} reaches ${d}`));
    expect(upward).toEqual([]);
  });
});
