// A client consuming the market-data feed: connects with lwsnode's own client (on the same
// native I/O thread a server would use), subscribes to symbols, prints a line per tick and
// reconnects by itself if the server goes away.
//
//   node examples/market-data/server.mjs                 (in one terminal)
//   node examples/client-feed/consumer.mjs ACME GLOBEX   (in another; URL=… for another server,
//                                                         SYMBOLS=ACME,GLOBEX instead of arguments)
//
// Ctrl-C closes the connection with 1000; the process then exits on its own.
import { connect } from "lwsnode";

const url = process.env.URL ?? "ws://127.0.0.1:8080/";
const symbols = process.argv.length > 2 ? process.argv.slice(2) : (process.env.SYMBOLS ?? "ACME").split(",");

const ws = await connect(url, { reconnect: { retries: 10, minDelay: 200, maxDelay: 5000 } });
console.log(`connected to ${url}`);

// Subscriptions live on the server side of one connection: renew them after every reconnect.
const subscribe = () => symbols.forEach((symbol) => ws.send(JSON.stringify({ subscribe: symbol })));
subscribe();
ws.on("reconnect", () => {
  console.log("reconnected");
  subscribe();
});
ws.on("reconnecting", (attempt, delayMs) => console.log(`connection lost; retry ${attempt} in ${delayMs} ms`));

let ticks = 0;
ws.on("message", (data) => {
  const msg = JSON.parse(data.toString());
  if (msg.symbol) {
    ticks++;
    console.log(`${msg.symbol} ${msg.price.toFixed(2)} (#${msg.seq})`);
  } else if (msg.subscribed) {
    console.log(`subscribed: ${msg.subscribed.join(", ") || "nothing"}`);
  } else if (msg.error) {
    console.log(`server: ${msg.error}`);
  }
});
ws.on("close", (code, reason) => console.log(`closed ${code}${reason ? ` (${reason})` : ""} after ${ticks} ticks`));

process.once("SIGINT", () => ws.close(1000, "bye"));
process.once("SIGTERM", () => ws.close(1000, "bye"));
