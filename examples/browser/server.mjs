// A browser page talking to lwsnode on ONE port: a tiny node:http handler serves index.html,
// and lwsnode, attached to that HTTP server, takes over the WebSocket upgrades on /ws (the
// socket then belongs to lwsnode's I/O thread). Every message a page sends is broadcast to
// every connected page.
//
//   npm start   (or node examples/browser/server.mjs), then open the printed address
//   (PORT=… picks the port, 8000 by default; HOST=… the interface, 127.0.0.1)
import { readFile } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "lwsnode";

const host = process.env.HOST ?? "127.0.0.1";
const page = await readFile(new URL("./index.html", import.meta.url));

const http = createHttpServer((req, res) => {
  if (req.method === "GET" && (req.url === "/" || req.url === "/index.html")) {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page);
  } else {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  }
});

const ws = await createServer({
  server: http,
  path: "/ws",
  open(socket) {
    socket.send(`welcome, ${socket.remoteAddress}`);
  },
  message(_socket, data, isBinary) {
    if (!isBinary) ws.broadcast(`echo: ${data.toString().slice(0, 200)}`);
  },
});

http.listen(Number(process.env.PORT ?? 8000), host, () => {
  const { port } = http.address();
  console.log(`open http://${host}:${port}/ (WebSockets on ws://${host}:${port}/ws, the same port)`);
});

async function stop() {
  await ws.close(); // the pages' WebSockets get 1001
  http.close();
  http.closeAllConnections();
  console.log("browser example closed");
}
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
