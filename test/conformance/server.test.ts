// RFC 6455 / RFC 7692 conformance of the server side (issue 12): every case of cases.ts against
// lwsnode's echo server without and with permessage-deflate, and, to check the suite itself,
// against `ws` configured the same way (ws must pass). Prints the Autobahn-style table.
import { afterAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { createServer } from "../../lib/index.js";
import { MAX_PAYLOAD, SERVER_CASES, type Case } from "./cases.js";
import { runAll, summarize, table, type Summary, type Verdict } from "./run.js";

const summaries: Summary[] = [];
const results = new Map<string, readonly Verdict[]>();

async function lwsnodeEcho(deflate: boolean): Promise<{ port: number; close(): Promise<void> }> {
  const server = await createServer({
    port: 0,
    host: "127.0.0.1",
    maxPayloadLength: MAX_PAYLOAD,
    closeTimeout: 2000,
    perMessageDeflate: deflate ? { threshold: 0 } : false,
    message(ws, data, isBinary) {
      ws.send(data, isBinary);
    },
  });
  return { port: server.port, close: () => server.close() };
}

async function wsEcho(deflate: boolean): Promise<{ port: number; close(): Promise<void> }> {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", maxPayload: MAX_PAYLOAD, perMessageDeflate: deflate ? { threshold: 0 } : false });
  wss.on("connection", (ws) => {
    ws.on("error", () => undefined);  // protocol errors: ws closes the connection itself
    ws.on("message", (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  });
  await new Promise<void>((resolve) => wss.once("listening", resolve));
  const port = (wss.address() as { port: number }).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

const targets: [string, () => Promise<{ port: number; close(): Promise<void> }>, (c: Case) => boolean][] = [
  ["ws", () => wsEcho(false), (c) => !c.deflate],
  ["ws + deflate", () => wsEcho(true), () => true],
  ["lwsnode", () => lwsnodeEcho(false), (c) => !c.deflate],
  ["lwsnode + deflate", () => lwsnodeEcho(true), () => true],
];

describe("server conformance (Autobahn-style categories)", () => {
  for (const [name, start, applies] of targets) {
    it(`${name}: no case fails`, async () => {
      const server = await start();
      try {
        const cases = SERVER_CASES.filter(applies);
        const verdicts = await runAll(server.port, cases);
        summaries.push(summarize(name, verdicts));
        results.set(name, verdicts);
        const failed = verdicts.filter((v) => v.grade === "failed").map((v) => `${v.id}: ${v.note}`);
        expect(failed).toEqual([]);
      } finally {
        await server.close();
      }
    }, 60_000);
  }

  it("lwsnode has no more non-strict results than ws", () => {
    const count = (t: string): number => summaries.find((s) => s.target === t)?.nonStrict ?? Infinity;
    expect(count("lwsnode")).toBeLessThanOrEqual(count("ws"));
    expect(count("lwsnode + deflate")).toBeLessThanOrEqual(count("ws + deflate"));
  });

  afterAll(() => {
    console.log(table(summaries, results));
  });
});
