// Issue 12, item 5: the client that lost every connection on its second compressed message.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { FIXTURES, startEchoServer, useCleanup } from "../helpers.js";

const defer = useCleanup();

describe("permessage-deflate with Python's websockets", () => {
  it("offering only server_no_context_takeover, five compressed messages echo and the answer confirms it", async () => {
    const server = await startEchoServer(defer, { perMessageDeflate: true });
    const { stdout } = await promisify(execFile)("/usr/bin/python3", [`${FIXTURES}py_ws_deflate_client.py`, String(server.port)], { timeout: 15_000 });
    expect(stdout.trim()).toBe("OK permessage-deflate; server_no_context_takeover");
  });
});
