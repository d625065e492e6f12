// connect() through an HTTP proxy (CONNECT tunnel): the `proxy` option, the environment's
// http_proxy/https_proxy/no_proxy convention when asked for (`proxy: true`), and never by
// default, whatever the environment says.
import { once } from "node:events";
import { createServer as createHttpServer, type IncomingMessage } from "node:http";
import { connect as netConnect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { connect } from "../lib/index.js";
import { startEchoServer, useCleanup, withTimeout } from "./helpers.js";

const defer = useCleanup();

// A minimal CONNECT proxy on 127.0.0.1 that records the targets it was asked for.
async function startProxy(): Promise<{ url: string; targets: string[] }> {
  const targets: string[] = [];
  const sockets: Socket[] = [];
  const proxy = createHttpServer((_req, res) => res.writeHead(405).end());
  proxy.on("connect", (req: IncomingMessage, client: Socket, head: Buffer) => {
    targets.push(req.url ?? "");
    const [host, port] = (req.url ?? "").split(/:(?=\d+$)/);
    const upstream = netConnect(Number(port), host === "localhost" ? "127.0.0.1" : host!, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.push(client, upstream);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  proxy.listen(0, "127.0.0.1");
  await once(proxy, "listening");
  defer(() => {
    for (const s of sockets) s.destroy();
    proxy.close();
  });
  return { url: `http://127.0.0.1:${(proxy.address() as { port: number }).port}`, targets };
}

const savedEnv = { ...process.env };
afterEach(() => {
  for (const key of ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"]) {
    if (savedEnv[key] === undefined) delete process.env[key];
    else process.env[key] = savedEnv[key];
  }
});

async function echo(url: string, options: Parameters<typeof connect>[1]): Promise<string> {
  const ws = await connect(url, options);
  defer(() => ws.terminate());
  const reply = once(ws, "message");
  ws.send("through");
  const [data] = (await withTimeout(reply, 5000, "the echo")) as [Buffer];
  return data.toString();
}

describe("the proxy option", () => {
  it("tunnels through an HTTP proxy with CONNECT; the proxy resolves the server's name", async () => {
    const server = await startEchoServer(defer);
    const proxy = await startProxy();
    expect(await echo(`ws://localhost:${server.port}/`, { proxy: proxy.url })).toBe("through");
    expect(proxy.targets).toEqual([`localhost:${server.port}`]);
  });

  it("proxy: true follows http_proxy for ws://, and no_proxy exempts a host", async () => {
    const server = await startEchoServer(defer);
    const proxy = await startProxy();
    process.env.http_proxy = proxy.url;
    expect(await echo(`ws://127.0.0.1:${server.port}/`, { proxy: true })).toBe("through");
    expect(proxy.targets).toEqual([`127.0.0.1:${server.port}`]);
    process.env.no_proxy = "example.test, 127.0.0.1";
    expect(await echo(`ws://127.0.0.1:${server.port}/`, { proxy: true })).toBe("through");
    expect(proxy.targets).toHaveLength(1); // went direct
  });

  it("without the option, the environment's http_proxy is ignored (a proxy is opt-in)", async () => {
    const server = await startEchoServer(defer);
    const proxy = await startProxy();
    process.env.http_proxy = proxy.url;
    expect(await echo(`ws://127.0.0.1:${server.port}/`, {})).toBe("through");
    expect(proxy.targets).toEqual([]);
  });

  it("refuses a proxy that is not http://host:port", async () => {
    await expect(connect("ws://127.0.0.1:1/", { proxy: "socks5://127.0.0.1:1080" })).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
    await expect(connect("ws://127.0.0.1:1/", { proxy: "http://user:pw@127.0.0.1:3128" })).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
    await expect(connect("ws://127.0.0.1:1/", { proxy: 3128 as never })).rejects.toMatchObject({ code: "ERR_INVALID_ARG_TYPE" });
  });
});
