// A browser page talking to an lwsnode server: a tiny node:http handler serves index.html, and
// the page opens a WebSocket to the lwsnode server (its own port). Every message a page sends
// is broadcast to every connected page.
//
//   node examples/browser/server.mjs   then open the printed http:// address in a browser
//   (PORT=… for the page, WS_PORT=… for the WebSocket server; 8000 and 8080 by default)
import { readFile } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "lwsnode";

const host = process.env.HOST ?? "127.0.0.1";

const ws = await createServer({
  port: Number(process.env.WS_PORT ?? 8080),
  host,
  open(socket) {
    socket.send(`welcome, ${socket.remoteAddress}`);
  },
  message(_socket, data, isBinary) {
    if (!isBinary) ws.broadcast(`echo: ${data.toString().slice(0, 200)}`);
  },
});

const page = await readFile(new URL("./index.html", import.meta.url));
const http = createHttpServer((req, res) => {
  if (req.method === "GET" && (req.url === "/" || req.url === "/index.html")) {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page);
  } else if (req.method === "GET" && req.url === "/config.json") {
    // Where the page finds the WebSocket server (chosen at start-up, possibly by the kernel).
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ wsPort: ws.port }));
  } else {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  }
});
http.listen(Number(process.env.PORT ?? 8000), host, () => {
  console.log(`open http://${host}:${http.address().port}/ (WebSocket server on ws://${host}:${ws.port})`);
});

async function stop() {
  http.close();
  http.closeAllConnections();
  await ws.close();
  console.log("browser example closed");
}
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
