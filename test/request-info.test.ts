// What a socket knows of its request, read natively when the handshake completes: ws.url (path
// and query), ws.query, and the headers named in `captureHeaders`; with and without an upgrade
// hook (a resumed handshake).
import { describe, expect, it } from "vitest";
import type { ServerWebSocket, ServerOptions } from "../lib/index.js";
import { createServerRejection, openTracked, startServer, urlOf, useCleanup, waitFor } from "./helpers.js";

const defer = useCleanup();

async function firstSocket(options: ServerOptions, path: string, headers: Record<string, string> = {}): Promise<ServerWebSocket> {
  const opened: ServerWebSocket[] = [];
  const server = await startServer(defer, { ...options, open: (ws) => void opened.push(ws) });
  await openTracked(defer, urlOf(server, path), { headers });
  await waitFor(() => opened.length === 1, 5000, "open");
  return opened[0]!;
}

describe("ws.url and ws.query", () => {
  for (const hooked of [false, true]) {
    it(`carry the request target${hooked ? " after an upgrade hook accepted it" : ""}`, async () => {
      const ws = await firstSocket(hooked ? { upgrade: () => undefined } : {}, "/chat/room%201?user=ann&tag=a&tag=b");
      expect(ws.url).toBe("/chat/room 1?user=ann&tag=a&tag=b"); // percent-decoded, as the upgrade hook's req.url
      expect(ws.query.get("user")).toBe("ann");
      expect(ws.query.getAll("tag")).toEqual(["a", "b"]);
      expect(ws.headers).toEqual({});
    });
  }

  it("a path without a query has an empty query", async () => {
    const ws = await firstSocket({}, "/plain");
    expect(ws.url).toBe("/plain");
    expect([...ws.query]).toEqual([]);
  });
});

describe("captureHeaders", () => {
  for (const hooked of [false, true]) {
    it(`gives ws.headers the named request headers (any case), and none other${hooked ? ", for a resumed handshake too" : ""}`, async () => {
      const ws = await firstSocket(
        { captureHeaders: ["X-Forwarded-For", "user-agent", "x-absent"], ...(hooked ? { upgrade: async () => undefined } : {}) },
        "/?q=1",
        { "X-Forwarded-For": "203.0.113.7, 10.0.0.1", "User-Agent": "test-agent/1.0", "X-Other": "not captured" },
      );
      expect(ws.headers).toEqual({ "x-forwarded-for": "203.0.113.7, 10.0.0.1", "user-agent": "test-agent/1.0" });
      expect(ws.url).toBe("/?q=1");
    });
  }

  it("keeps an empty header value apart from an absent header", async () => {
    const ws = await firstSocket({ captureHeaders: ["x-empty", "x-none"] }, "/", { "X-Empty": "" });
    expect(ws.headers).toEqual({ "x-empty": "" });
  });

  it("refuses what is not a list of header names", async () => {
    for (const [value, code] of [
      ["x-forwarded-for", "ERR_INVALID_ARG_TYPE"],
      [[1], "ERR_INVALID_ARG_TYPE"],
      [["bad name"], "ERR_OUT_OF_RANGE"],
      [Array.from({ length: 33 }, (_, i) => `x-${i}`), "ERR_OUT_OF_RANGE"],
    ] as const) {
      const err = await createServerRejection(defer, { captureHeaders: value as unknown as string[] });
      expect(err.code).toBe(code);
    }
  });
});
