// libwebsockets' log lines: routed to setLogger()'s function, silent by default, never stderr.
import { spawnSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { setLogger, type LogLevel } from "../lib/index.js";
import { DIST, requireDist, startEchoServer, thrown, useCleanup, waitFor } from "./helpers.js";

const defer = useCleanup();
afterEach(() => setLogger(null));

describe("setLogger", () => {
  it("delivers lws lines of the chosen levels, without lws's own timestamp prefix", async () => {
    const lines: [LogLevel, string][] = [];
    setLogger((level, message) => lines.push([level, message]), ["notice"]);
    const server = await startEchoServer(defer);
    await server.close(); // the last server: its reactor (and lws context) is destroyed
    await startEchoServer(defer); // a new reactor logs its context creation
    await waitFor(() => lines.some(([, m]) => m.includes("LWS: 4.3.5")), 5000, "the context creation line");
    expect(lines.every(([level]) => level === "notice")).toBe(true);
    expect(lines.some(([, m]) => /^\[\d{4}\//.test(m))).toBe(false);
  });

  it("a level not asked for is not delivered", async () => {
    const lines: [LogLevel, string][] = [];
    setLogger((level, message) => lines.push([level, message]), ["error"]);
    const server = await startEchoServer(defer);
    await server.close();
    await startEchoServer(defer);
    expect(lines.filter(([level]) => level !== "error")).toEqual([]);
  });

  it("rejects a logger that is not a function and unknown levels", () => {
    expect(thrown(() => setLogger("x" as never)).code).toBe("ERR_INVALID_ARG_TYPE");
    expect(thrown(() => setLogger(() => {}, ["loud" as LogLevel])).code).toBe("ERR_INVALID_ARG_TYPE");
  });
});

describe("by default", () => {
  it("nothing from libwebsockets reaches stderr, even through errors and closes", () => {
    requireDist();
    const script = `
      import { createServer } from ${JSON.stringify(DIST)};
      import net from "node:net";
      const server = await createServer({ port: 0, host: "127.0.0.1" });
      await createServer({ port: server.port, host: "127.0.0.1" }).catch(() => {});
      const s = net.connect(server.port, "127.0.0.1");
      s.on("error", () => {});
      s.resume(); // read, so the server's close is seen
      s.write("GET / HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n" +
        "Sec-WebSocket-Version: 13\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n\\r\\n");
      s.write(Buffer.from([0x83, 0x80, 1, 2, 3, 4])); // unknown opcode: lws fails the connection
      await new Promise((r) => s.on("close", r));
      await server.close();
      console.log("done");
    `;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 15_000 });
    expect(r.stdout.trim()).toBe("done");
    expect(r.stderr).toBe("");
  });
});
