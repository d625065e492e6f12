// Bench peer: Bun.serve with websocket handlers (run with the `bun` binary from the npm
// package). Env PORT, MODE (echo|broadcast|idle); prints READY <port> when listening.
// broadcast uses Bun's own pub/sub: ws.subscribe("b") and server.publish("b", …).
declare const Bun: any;

const port = Number(process.env.PORT ?? 0);
const mode = process.env.MODE ?? "echo";

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch(req: Request, srv: any) {
    if (srv.upgrade(req)) return undefined;
    return new Response("websocket only", { status: 426 });
  },
  websocket: {
    perMessageDeflate: false,
    maxPayloadLength: 16 * 1024 * 1024,
    backpressureLimit: 64 * 1024 * 1024,
    idleTimeout: 0,
    message(ws: any, message: string | Uint8Array) {
      if (mode === "echo") {
        ws.send(message);
      } else if (mode === "broadcast") {
        if (typeof message === "string") {
          if (message === "sub") {
            ws.subscribe("b");
            ws.send("ok");
          }
          return;
        }
        server.publish("b", message);
      }
    },
  },
});
process.on("SIGTERM", () => process.exit(0));
console.log(`READY ${server.port}`);
