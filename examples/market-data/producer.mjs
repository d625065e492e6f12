// The market-data producer: a worker thread that invents prices and posts them to the main
// thread in batches, one message per tick of its timer. It knows nothing about sockets.
import { parentPort, workerData } from "node:worker_threads";

const { symbols, intervalMs } = workerData;
const prices = new Map(symbols.map((s, i) => [s, 100 + 20 * i]));
let seq = 0;

const timer = setInterval(() => {
  const batch = symbols.map((symbol) => {
    const price = Math.max(1, prices.get(symbol) * (1 + (Math.random() - 0.5) / 100));
    prices.set(symbol, price);
    return { symbol, price: Number(price.toFixed(2)), seq: ++seq, time: Date.now() };
  });
  parentPort.postMessage(batch);
}, intervalMs);

parentPort.on("message", (msg) => {
  if (msg !== "stop") return;
  clearInterval(timer);
  parentPort.close(); // nothing keeps the worker alive any more: it exits
});
