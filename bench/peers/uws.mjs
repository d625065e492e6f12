// Bench peer: uWebSockets.js (npm package @trufflesuite/uws-js-unofficial, resolved from
// PEER_MODULES). Env PORT, MODE (echo|broadcast|idle); prints READY <port> when listening.
// broadcast uses uWS's own pub/sub: ws.subscribe("b") and app.publish("b", …).
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(process.env.PEER_MODULES ?? ".", "x.js"));
const uWS = require("@trufflesuite/uws-js-unofficial");

const port = Number(process.env.PORT ?? 0);
const mode = process.env.MODE ?? "echo";
const app = uWS.App();
const behavior = {
  compression: uWS.DISABLED,
  maxPayloadLength: 16 * 1024 * 1024,
  maxBackpressure: 64 * 1024 * 1024,
  idleTimeout: 0,
};
if (mode === "echo") {
  behavior.message = (ws, message, isBinary) => {
    ws.send(message, isBinary);
  };
} else if (mode === "broadcast") {
  behavior.message = (ws, message, isBinary) => {
    if (!isBinary) {
      if (Buffer.from(message).toString() === "sub") {
        ws.subscribe("b");
        ws.send("ok", false);
      }
      return;
    }
    app.publish("b", message, true);
  };
}
app.ws("/*", behavior);
app.listen("127.0.0.1", port, (listenSocket) => {
  if (!listenSocket) {
    console.error("uws: listen failed");
    process.exit(1);
  }
  console.log(`READY ${uWS.us_socket_local_port(listenSocket)}`);
});
process.on("SIGTERM", () => process.exit(0));
