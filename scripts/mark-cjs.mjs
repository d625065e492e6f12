#!/usr/bin/env node
// dist/cjs/ holds the CommonJS build (tsconfig.cjs.json) inside a "type": "module" package: a
// nested package.json tells Node (and TypeScript) that its .js and .d.ts files are CommonJS.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "cjs");
writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "commonjs" }, null, 2) + "\n");
