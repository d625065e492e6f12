// A chat room on lwsnode's pub/sub: every socket subscribes to one topic and each line it sends
// is published to all of them, framed once and fanned out on the I/O thread.
//
//   node examples/chat/server.mjs            (PORT=… to choose the port; 8080 by default)
//   then connect with any WebSocket client, e.g. `npx wscat -c ws://127.0.0.1:8080`
//   and send lines; "/nick NAME" renames you.
import { createServer } from "lwsnode";

const ROOM = "room";
let guests = 0;

const server = await createServer({
  port: Number(process.env.PORT ?? 8080),
  host: process.env.HOST ?? "127.0.0.1",
  open(ws) {
    ws.data = { name: `guest-${++guests}` };
    ws.subscribe(ROOM);
    ws.send(`* welcome, ${ws.data.name} (${server.subscriberCount(ROOM)} here)`);
    ws.publish(ROOM, `* ${ws.data.name} joined`); // everyone else in the room
  },
  message(ws, data, isBinary) {
    if (isBinary) return void ws.send("* text only, please");
    const text = data.toString().trim();
    const nick = /^\/nick\s+(\S{1,32})$/.exec(text);
    if (nick) {
      server.publish(ROOM, `* ${ws.data.name} is now ${nick[1]}`);
      ws.data.name = nick[1];
    } else if (text) {
      server.publish(ROOM, `${ws.data.name}: ${text}`); // everyone, the sender included
    }
  },
  close(ws) {
    // The closed socket has already left its topics.
    server.publish(ROOM, `* ${ws.data.name} left`);
  },
});

console.log(`chat listening on ws://${server.host}:${server.port}`);

// Ctrl-C: clients get 1001, and the process exits once the server is closed.
process.once("SIGINT", () => void server.close().then(() => console.log("chat closed")));
process.once("SIGTERM", () => void server.close().then(() => console.log("chat closed")));
