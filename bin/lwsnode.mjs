#!/usr/bin/env node
// The lwsnode command line: an interactive client, a quick test server, and a front end to the
// load generator. `lwsnode --help` lists the commands.
import { spawnSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { lookup } from "node:dns/promises";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

// Exit codes.
const OK = 0; // closed normally (1000, 1005) or stdin ended and the close completed
const FAILED = 1; // could not connect or listen
const USAGE = 2; // bad command line
const ABNORMAL = 3; // the connection closed with another code (1006: dropped)

const HELP = `usage:
  lwsnode connect <url> [options]   interactive client: each stdin line is sent as a message,
                                    each message received is printed on stdout
      -H, --header "Name: value"    extra request header (repeatable)
      -s, --subprotocol <name>      offer a subprotocol (repeatable)
      -b, --binary                  lines are hex and sent as binary; binary messages print as hex
      -p, --ping <ms>               ping the server every <ms> milliseconds
      -w, --wait <ms>               once stdin ends, wait this long for messages before closing
      lines starting with "/" are commands: /ping [text], /close [code [reason]]
      exit status: 0 closed normally (1000/1005), 1 connect failed, 2 usage, 3 other close codes
  lwsnode serve [--port P] [--host H] [--echo | --broadcast]
                                    a test server (default --echo; --broadcast sends every
                                    message to every client); prints its ws:// address
  lwsnode bench <url> [--mode echo|broadcast|storm|large] [--conns N] [--duration S] …
                                    runs bench/loadgen.c (compiled with cc on first use)
                                    against <url> (numeric IPv4 or a name that resolves to one);
                                    prints its JSON result
`;

function usage(message) {
  if (message) process.stderr.write(`lwsnode: ${message}\n`);
  process.stderr.write(HELP);
  process.exit(USAGE);
}

async function lwsnode() {
  return import(join(ROOT, "dist", "index.js"));
}

function parse(args, options) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    return usage(err.message);
  }
}

// ---- connect ------------------------------------------------------------------------------------

async function connectCommand(args) {
  const { values, positionals } = parse(args, {
    header: { type: "string", short: "H", multiple: true },
    subprotocol: { type: "string", short: "s", multiple: true },
    binary: { type: "boolean", short: "b" },
    ping: { type: "string", short: "p" },
    wait: { type: "string", short: "w" },
  });
  if (positionals.length !== 1) usage("connect takes one URL");
  const headers = {};
  for (const h of values.header ?? []) {
    const colon = h.indexOf(":");
    if (colon <= 0) usage(`--header wants "Name: value", not ${JSON.stringify(h)}`);
    headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
  }
  const pingMs = values.ping === undefined ? 0 : Number(values.ping);
  const waitMs = values.wait === undefined ? 0 : Number(values.wait);
  if (!(pingMs >= 0) || !(waitMs >= 0)) usage("--ping and --wait take milliseconds");
  const { connect } = await lwsnode();
  let ws;
  try {
    ws = await connect(positionals[0], { headers, protocols: values.subprotocol ?? [] });
  } catch (err) {
    process.stderr.write(`lwsnode: ${err.message}${err.code ? ` (${err.code})` : ""}\n`);
    process.exit(FAILED);
  }
  process.stderr.write(`connected to ${ws.url}${ws.protocol ? ` (subprotocol ${ws.protocol})` : ""}\n`);
  const binary = values.binary === true;
  ws.on("message", (data, isBinary) => {
    process.stdout.write(isBinary && binary ? `${data.toString("hex")}\n` : `${data.toString()}\n`);
  });
  ws.on("pong", (data) => process.stderr.write(`pong ${data.toString()}\n`));
  const timer = pingMs > 0 ? setInterval(() => ws.ping("lwsnode"), pingMs) : undefined;
  const lines = createInterface({ input: process.stdin });
  ws.on("close", (code, reason) => {
    clearInterval(timer);
    lines.close();
    process.stdin.destroy();
    process.stderr.write(`closed ${code}${reason ? ` ${reason}` : ""}\n`);
    process.exitCode = code === 1000 || code === 1005 ? OK : ABNORMAL;
  });
  lines.on("line", (line) => {
    if (line.startsWith("/")) {
      const [command, ...rest] = line.slice(1).split(" ");
      if (command === "ping") ws.ping(rest.join(" "));
      else if (command === "close") ws.close(rest[0] ? Number(rest[0]) : 1000, rest.slice(1).join(" "));
      else process.stderr.write(`unknown command /${command} (/ping [text], /close [code [reason]])\n`);
      return;
    }
    if (!binary) {
      ws.send(line);
      return;
    }
    const hex = line.replace(/\s+/g, "");
    if (!/^([0-9a-fA-F]{2})*$/.test(hex)) {
      process.stderr.write(`not hex: ${line}\n`);
      return;
    }
    ws.send(Buffer.from(hex, "hex"));
  });
  lines.on("close", () => {
    // stdin ended: close once what was sent is out (and, with --wait, the answers are in).
    setTimeout(() => ws.close(1000), waitMs);
  });
}

// ---- serve --------------------------------------------------------------------------------------

async function serveCommand(args) {
  const { values, positionals } = parse(args, {
    port: { type: "string" },
    host: { type: "string" },
    echo: { type: "boolean" },
    broadcast: { type: "boolean" },
  });
  if (positionals.length > 0) usage("serve takes no positional arguments");
  if (values.echo && values.broadcast) usage("choose --echo or --broadcast");
  const port = values.port === undefined ? 8080 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) usage("--port takes 0-65535");
  const host = values.host ?? "127.0.0.1";
  const { createServer } = await lwsnode();
  let server;
  try {
    server = await createServer({
      port,
      host,
      message(ws, data, isBinary) {
        if (values.broadcast) server.broadcast(data, isBinary);
        else ws.send(data, isBinary);
      },
    });
  } catch (err) {
    process.stderr.write(`lwsnode: ${err.message}${err.code ? ` (${err.code})` : ""}\n`);
    process.exit(FAILED);
  }
  const shown = host.includes(":") ? `[${host}]` : host;
  process.stdout.write(`lwsnode ${values.broadcast ? "broadcast" : "echo"} server on ws://${shown}:${server.port}/\n`);
  const stop = () => void server.close();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

// ---- bench --------------------------------------------------------------------------------------

// bench/loadgen.c compiled once per source version into the user's cache.
function loadgen() {
  const source = join(ROOT, "bench", "loadgen.c");
  const hash = createHash("sha256").update(readFileSync(source)).digest("hex").slice(0, 12);
  const dir = join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "lwsnode");
  const binary = join(dir, `loadgen-${hash}`);
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const cc = process.env.CC || "cc";
  process.stderr.write(`compiling ${source} with ${cc}\n`);
  const r = spawnSync(cc, ["-O2", "-o", binary, source], { stdio: "inherit" });
  if (r.error || r.status !== 0) {
    process.stderr.write(`lwsnode: cannot compile the load generator (${r.error?.message ?? `${cc} exited ${r.status}`}); it needs a C compiler\n`);
    process.exit(FAILED);
  }
  return binary;
}

async function benchCommand(args) {
  const [target, ...rest] = args;
  if (!target || target.startsWith("-")) usage("bench takes a URL first");
  let url;
  try {
    url = new URL(target);
  } catch {
    usage(`not a URL: ${target}`);
  }
  if (url.protocol !== "ws:") usage("bench speaks plain ws:// only");
  let host = url.hostname;
  try {
    host = (await lookup(host, { family: 4 })).address;
  } catch (err) {
    process.stderr.write(`lwsnode: cannot resolve ${url.hostname} (${err.code})\n`);
    process.exit(FAILED);
  }
  const port = url.port || "80";
  const child = spawn(loadgen(), ["--host", host, "--port", port, ...rest], { stdio: "inherit" });
  child.on("exit", (code, signal) => process.exit(signal ? FAILED : (code ?? FAILED)));
}

const [command, ...rest] = process.argv.slice(2);
switch (command) {
  case "connect":
    await connectCommand(rest);
    break;
  case "serve":
    await serveCommand(rest);
    break;
  case "bench":
    await benchCommand(rest);
    break;
  case "-h":
  case "--help":
  case "help":
    process.stdout.write(HELP);
    break;
  default:
    usage(command ? `unknown command ${command}` : undefined);
}
