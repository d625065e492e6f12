// Client keepalive (pingInterval, pongTimeout): a silent connection is pinged, and one whose
// server answers nothing (half-open) is dropped, as a drop (1006) that `reconnect` reopens.
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket as WsSocket } from "ws";
import { connect } from "../lib/index.js";
import { useCleanup, withTimeout } from "./helpers.js";

const defer = useCleanup();

async function wsServer(autoPong: boolean): Promise<{ port: number; pings: number[]; clients: WsSocket[] }> {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", autoPong });
  await once(wss, "listening");
  const pings: number[] = [];
  const clients: WsSocket[] = [];
  wss.on("connection", (s: WsSocket) => {
    clients.push(s);
    s.on("ping", () => pings.push(Date.now()));
  });
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  return { port: (wss.address() as { port: number }).port, pings, clients };
}

describe("keepalive", () => {
  it("pings a silent connection every pingInterval; a server that answers keeps it open", { timeout: 15_000 }, async () => {
    const server = await wsServer(true);
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, { pingInterval: 300 });
    defer(() => ws.terminate());
    await new Promise((resolve) => setTimeout(resolve, 1400));
    expect(server.pings.length).toBeGreaterThanOrEqual(2);
    expect(server.pings.length).toBeLessThanOrEqual(5);
    expect(ws.readyState).toBe(1);
  });

  it("sends no ping while messages keep arriving", { timeout: 15_000 }, async () => {
    const server = await wsServer(true);
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, { pingInterval: 400 });
    defer(() => ws.terminate());
    const timer = setInterval(() => server.clients[0]?.send("tick"), 100);
    defer(() => clearInterval(timer));
    await new Promise((resolve) => setTimeout(resolve, 1300));
    expect(server.pings).toEqual([]);
  });

  it("drops a connection whose server answers nothing (1006, willReconnect with reconnect) after pingInterval + pongTimeout", { timeout: 15_000 }, async () => {
    const server = await wsServer(false); // never pongs: a half-open connection as the client sees it
    const t0 = Date.now();
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, { pingInterval: 300, pongTimeout: 300, reconnect: { retries: 1, minDelay: 50 } });
    defer(() => ws.terminate());
    const [code, , willReconnect] = (await withTimeout(once(ws, "close"), 5000, "the drop")) as [number, string, boolean];
    const elapsed = Date.now() - t0;
    expect([code, willReconnect]).toEqual([1006, true]);
    expect(server.pings).toHaveLength(1);
    expect(elapsed).toBeGreaterThanOrEqual(550);
    expect(elapsed).toBeLessThan(3000);
    await withTimeout(once(ws, "reconnect"), 5000, "the reconnect");
  });
});
