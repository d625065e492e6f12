// One server process of bench/bridge.mjs: clients subscribe by connecting (topic "bench");
// stdin commands: {"cmd":"publish","count","size"} publishes in turns of 100 messages;
// {"cmd":"cpu"} -> "cpu {user,system}" (µs since start); {"cmd":"close"}.
// argv[2]: JSON { redis?: url } (bridged when set).
import { createInterface } from "node:readline";
import { createServer } from "../dist/index.js";

const config = JSON.parse(process.argv[2] ?? "{}");
const server = await createServer({
  port: 0,
  host: "127.0.0.1",
  maxBackpressure: 256 * 1024 * 1024,
  ...(config.redis ? { pubsub: { redis: config.redis, maxBuffered: 1_000_000, maxBufferedBytes: 1 << 30 } } : {}),
  open: (ws) => void ws.subscribe("bench"),
});
console.log(`listening ${server.port}`);

const commands = createInterface({ input: process.stdin });
commands.on("line", async (line) => {
  const cmd = JSON.parse(line);
  if (cmd.cmd === "publish") {
    const payload = Buffer.alloc(cmd.size, 97);
    let sent = 0;
    const step = () => {
      for (let i = 0; i < 100 && sent < cmd.count; i++, sent++) {
        payload.writeUInt32BE(sent, 0);
        server.publish("bench", payload, true);
      }
      if (sent < cmd.count) setImmediate(step);
      else console.log(`published ${sent}`);
    };
    step();
  } else if (cmd.cmd === "cpu") {
    console.log(`cpu ${JSON.stringify({ ...process.cpuUsage(), stats: server.stats() })}`);
  } else if (cmd.cmd === "close") {
    commands.close();
    process.stdin.destroy();
    await server.close();
  }
});
