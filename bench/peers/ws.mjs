// Bench peer: ws. Env PORT, MODE (echo|broadcast|idle); prints READY <port> when listening.
// Run as is for pure-JS ws (the runner sets WS_NO_BUFFER_UTIL=1 WS_NO_UTF_8_VALIDATE=1); the
// ws-native peer imports this file with bufferutil and utf-8-validate installed and enabled.
// Resolves `ws` from PEER_MODULES (the bench's peer cache) when set, else from the repo.
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(process.env.PEER_MODULES ? join(process.env.PEER_MODULES, "x.js") : import.meta.url);
const { WebSocketServer } = require("ws");

const port = Number(process.env.PORT ?? 0);
const mode = process.env.MODE ?? "echo";
const wss = new WebSocketServer({ port, host: "127.0.0.1", perMessageDeflate: false, clientTracking: false });
const subscribers = new Set();

wss.on("connection", (ws) => {
  ws.on("error", () => {});
  if (mode === "echo") {
    ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  } else if (mode === "broadcast") {
    ws.on("message", (data, isBinary) => {
      if (!isBinary) {
        if (data.toString() === "sub") {
          subscribers.add(ws);
          ws.send("ok");
        }
        return;
      }
      for (const s of subscribers) s.send(data, { binary: true });
    });
    ws.on("close", () => subscribers.delete(ws));
  }
});
wss.on("listening", () => console.log(`READY ${wss.address().port}`));
process.on("SIGTERM", () => process.exit(0));
