// The market-data producer: a worker thread that invents prices and publishes each tick
// straight to the server's I/O thread through a publisher handle (createPublisher). Its ticks
// never pass through the main thread, so a busy main thread does not delay them.
import { parentPort, workerData } from "node:worker_threads";
import { createPublisher } from "lwsnode";

const { symbols, intervalMs, feed } = workerData;
const publisher = createPublisher(feed);
const prices = new Map(symbols.map((s, i) => [s, 100 + 20 * i]));
let seq = 0;
let published = 0;

const timer = setInterval(() => {
  for (const symbol of symbols) {
    const price = Math.max(1, prices.get(symbol) * (1 + (Math.random() - 0.5) / 100));
    prices.set(symbol, price);
    const tick = { symbol, price: Number(price.toFixed(2)), seq: ++seq, time: Date.now() };
    // One copy into a native frame, fanned out on the I/O thread; false once the server closed.
    if (publisher.publish(`ticks/${symbol}`, JSON.stringify(tick))) published++;
  }
}, intervalMs);

parentPort.on("message", async (msg) => {
  if (msg !== "stop") return;
  clearInterval(timer);
  await publisher.close();
  parentPort.postMessage({ published });
  parentPort.close(); // nothing keeps the worker alive any more: it exits
});
