// wss:// echo through an https.Server with lwsnode attached (TLS in Node, bytes through a
// socketpair) against lwsnode's own TLS (`tls` option on its own port). A server child
// process per variant; lwsnode's client (on its own I/O thread) keeps CONNS x INFLIGHT 64 B
// messages in flight for SECONDS and counts echoes.
//   node bench/tls-attach.mjs            (after npm run build; needs the openssl CLI)
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const CONNS = 20, INFLIGHT = 16, SECONDS = Number(process.env.SECONDS ?? 3);
const lws = await import(new URL("../dist/index.js", import.meta.url).href);

if (process.argv[2] === "serve") {
  const [variant, certFile, keyFile] = process.argv.slice(3);
  const tls = { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
  const echo = { message(ws, data, isBinary) { ws.send(data, isBinary); } };
  let port;
  if (variant === "https-attach") {
    const { createServer } = await import("node:https");
    const https = createServer(tls, (req, res) => res.end());
    await lws.createServer({ server: https, ...echo });
    await new Promise((resolve) => https.listen(0, "127.0.0.1", resolve));
    port = https.address().port;
  } else {
    port = (await lws.createServer({ port: 0, host: "127.0.0.1", tls, ...echo })).port;
  }
  console.log(`READY ${port}`);
  process.stdin.resume().on("end", () => process.exit(0));
} else {
  const dir = mkdtempSync(join(tmpdir(), "lwsnode-tlsbench-"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
    "-days", "1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
  for (const variant of ["own-tls", "https-attach"]) {
    const child = spawn(process.execPath, [new URL(import.meta.url).pathname, "serve", variant, join(dir, "cert.pem"), join(dir, "key.pem")], { stdio: ["pipe", "pipe", "inherit"] });
    const port = await new Promise((resolve) => createInterface({ input: child.stdout }).on("line", (l) => l.startsWith("READY") && resolve(Number(l.slice(6)))));
    const payload = Buffer.alloc(64, 1);
    let count = 0, counting = false;
    const clients = [];
    for (let i = 0; i < CONNS; i++) {
      const ws = await lws.connect(`wss://127.0.0.1:${port}/`, { tls: { rejectUnauthorized: false } });
      ws.on("message", () => { if (counting) count++; ws.send(payload); });
      for (let j = 0; j < INFLIGHT; j++) ws.send(payload);
      clients.push(ws);
    }
    await new Promise((r) => setTimeout(r, 500));
    const cpu0 = readFileSync(`/proc/${child.pid}/stat`, "utf8").split(" ");
    counting = true;
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    counting = false;
    const cpu1 = readFileSync(`/proc/${child.pid}/stat`, "utf8").split(" ");
    const ticks = (s) => Number(s[13]) + Number(s[14]);
    const cpuS = (ticks(cpu1) - ticks(cpu0)) / 100;
    console.log(`${variant}: ${Math.round(count / SECONDS)} echoes/s, server CPU ${((cpuS / count) * 1e5).toFixed(2)} s per 100k`);
    for (const ws of clients) ws.terminate();
    child.stdin.end();
  }
  rmSync(dir, { recursive: true, force: true });
}
