// Bench peer: ws with its native add-ons (bufferutil for masking, utf-8-validate for text),
// both resolved next to ws in PEER_MODULES. Exits with SKIP if either cannot be loaded.
import { createRequire } from "node:module";
import { join } from "node:path";

delete process.env.WS_NO_BUFFER_UTIL;
delete process.env.WS_NO_UTF_8_VALIDATE;
const require = createRequire(join(process.env.PEER_MODULES ?? ".", "ws", "x.js"));
for (const name of ["bufferutil", "utf-8-validate"]) {
  try {
    require(name);
  } catch (err) {
    console.log(`SKIP ${name} cannot be loaded: ${err.message.split("\n")[0]}`);
    process.exit(3);
  }
}
await import("./ws.mjs");
