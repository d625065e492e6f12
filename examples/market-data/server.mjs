// Market data push: a worker_threads producer generates ticks; the main thread's lwsnode server
// publishes each tick to the topic of its symbol. Clients pick symbols by sending
// {"subscribe":"ACME"} / {"unsubscribe":"ACME"} and receive JSON ticks.
//
//   node examples/market-data/server.mjs     (PORT=… to choose the port; 8080 by default)
//
// The worker publishes its ticks itself: server.publisherHandle() is plain data posted to it,
// and createPublisher(handle) there pushes each tick straight to the server's I/O thread (one
// copy into a native frame, fanned out to every subscriber there), not through this thread.
import { Worker } from "node:worker_threads";
import { createServer } from "lwsnode";

const SYMBOLS = ["ACME", "GLOBEX", "INITECH", "UMBRELLA"];

const server = await createServer({
  port: Number(process.env.PORT ?? 8080),
  host: process.env.HOST ?? "127.0.0.1",
  open(ws) {
    ws.send(JSON.stringify({ symbols: SYMBOLS }));
  },
  message(ws, data) {
    let request;
    try {
      request = JSON.parse(data.toString());
    } catch {
      return void ws.close(1003, "send JSON");
    }
    if (SYMBOLS.includes(request.subscribe)) ws.subscribe(`ticks/${request.subscribe}`);
    else if (SYMBOLS.includes(request.unsubscribe)) ws.unsubscribe(`ticks/${request.unsubscribe}`);
    else return void ws.send(JSON.stringify({ error: "unknown symbol", symbols: SYMBOLS }));
    ws.send(JSON.stringify({ subscribed: ws.topics.map((t) => t.slice("ticks/".length)) }));
  },
});

const producer = new Worker(new URL("./producer.mjs", import.meta.url), {
  workerData: { symbols: SYMBOLS, intervalMs: Number(process.env.TICK_MS ?? 100), feed: server.publisherHandle() },
});

console.log(`market data on ws://${server.host}:${server.port} (symbols: ${SYMBOLS.join(", ")})`);

async function stop() {
  const stopped = new Promise((resolve) => producer.once("message", resolve));
  producer.postMessage("stop");
  const { published } = await stopped;
  await server.close();
  console.log(`market data closed after ${published} ticks published`);
}
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
