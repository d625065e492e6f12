// Bench peer: lwsnode. Env PORT, MODE (echo|broadcast|idle); prints READY <port> when listening.
// ATTACH=http: the port is a node:http server's, lwsnode attached to it (`server` option).
// broadcast: a connection whose first message is the text "sub" is a subscriber (answered
// "ok"); every binary message is published to all subscribers, natively (server.publish) when
// lwsnode has pub/sub, else by looping ws.send over the subscribers.
import { createServer } from "../../dist/index.js";

const port = Number(process.env.PORT ?? 0);
const mode = process.env.MODE ?? "echo";
const subscribers = new Set();
let server;
let native = false;

const handlers = {
  echo: {
    message(ws, data, isBinary) {
      ws.send(data, isBinary);
    },
  },
  idle: {},
  broadcast: {
    message(ws, data, isBinary) {
      if (!isBinary) {
        if (data.toString() === "sub") {
          if (native) ws.subscribe("b");
          else subscribers.add(ws);
          ws.send("ok");
        }
        return;
      }
      if (native) server.publish("b", data);
      else for (const s of subscribers) s.send(data, true);
    },
    close(ws) {
      subscribers.delete(ws);
    },
  },
}[mode];
if (!handlers) throw new Error(`unknown MODE ${mode}`);

if (process.env.ATTACH === "http") {
  const { createServer: createHttpServer } = await import("node:http");
  const http = createHttpServer((req, res) => res.end("bench\n"));
  server = await createServer({ server: http, ...handlers });
  await new Promise((resolve) => http.listen(port, "127.0.0.1", resolve));
} else {
  server = await createServer({ port, host: "127.0.0.1", ...handlers });
}
native = typeof server.publish === "function";
process.on("SIGTERM", () => {
  server.close().then(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
console.log(`READY ${server.port} ${mode === "broadcast" ? (native ? "publish=native" : "publish=loop") : ""}`);
