// Smoke tests of examples/: each is started the way its header says (`node examples/…`), used
// the way a reader would use it, and stopped with Ctrl-C (SIGINT), after which it must exit 0.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { closed, needs, nextMessage, openClient, requireDist, ROOT, withTimeout } from "./helpers.js";

const CHROMIUM = "/usr/bin/chromium";

/** The two browser APIs the screenshot check uses inside the page (this project has no DOM lib). */
interface BrowserGlobals {
  Image: new () => { src: string; width: number; height: number; decode(): Promise<void> };
  OffscreenCanvas: new (w: number, h: number) => {
    getContext(kind: "2d"): {
      drawImage(image: unknown, x: number, y: number): void;
      getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
    };
  };
}

interface Example {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  /** Resolves with the first stdout match of `re`. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** Ctrl-C; resolves with the exit code. */
  stop(): Promise<number | null>;
}

const running: Example[] = [];
afterEach(() => {
  for (const e of running.splice(0)) if (e.child.exitCode === null) e.child.kill("SIGKILL");
});

function startExample(script: string, env: Record<string, string> = {}): Example {
  const child = spawn(process.execPath, [join("examples", script)], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: "", PORT: "0", ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const output = () => `stdout:\n${stdout}\nstderr:\n${stderr}`;
  const example: Example = {
    child,
    output,
    waitFor: (re, ms = 10_000) =>
      withTimeout(
        new Promise((resolve, reject) => {
          const check = () => {
            const m = re.exec(stdout);
            if (m) return resolve(m);
            if (child.exitCode !== null) reject(new Error(`${script} exited (${child.exitCode}) before printing ${re}\n${output()}`));
            else setTimeout(check, 20);
          };
          check();
        }),
        ms,
        `${script} printing ${re}\n${output()}`,
      ),
    stop: () => {
      child.kill("SIGINT");
      return withTimeout(exited, 10_000, `${script} exiting after SIGINT\n${output()}`);
    },
  };
  running.push(example);
  return example;
}

/** Collects text messages until `count` arrived (or fails after the timeout). */
async function collect(client: WebSocket, count: number, ms = 5000): Promise<string[]> {
  const got: string[] = [];
  while (got.length < count) got.push((await nextMessage(client, ms)).data.toString());
  return got;
}

beforeAll(requireDist);

describe("examples/chat (pub/sub chat room)", () => {
  it("relays each line to everyone in the room, announces joins, renames and leaves", { timeout: 30_000 }, async () => {
    const chat = startExample("chat/server.mjs");
    const [, port] = await chat.waitFor(/chat listening on ws:\/\/127\.0\.0\.1:(\d+)/);
    const alice = await openClient(`ws://127.0.0.1:${port}/`);
    expect(await collect(alice, 1)).toEqual(["* welcome, guest-1 (1 here)"]);
    const bob = await openClient(`ws://127.0.0.1:${port}/`);
    expect(await collect(bob, 1)).toEqual(["* welcome, guest-2 (2 here)"]);
    expect(await collect(alice, 1)).toEqual(["* guest-2 joined"]);

    alice.send("/nick alice");
    alice.send("hi bob");
    const expected = ["* guest-1 is now alice", "alice: hi bob"];
    expect(await collect(alice, 2)).toEqual(expected);
    expect(await collect(bob, 2)).toEqual(expected);

    bob.close();
    await closed(bob);
    expect(await collect(alice, 1)).toEqual(["* guest-2 left"]);

    const aliceClosed = closed(alice);
    expect(await chat.stop(), chat.output()).toBe(0);
    expect((await aliceClosed).code).toBe(1001);
    expect(chat.output()).toContain("chat closed");
  });
});

describe("examples/client-feed (lwsnode client consuming the market-data feed)", () => {
  it("prints the subscribed ticks, reconnects after the server stops, and exits on Ctrl-C", { timeout: 30_000 }, async () => {
    const md = startExample("market-data/server.mjs", { TICK_MS: "20" });
    const [, port] = await md.waitFor(/market data on ws:\/\/127\.0\.0\.1:(\d+)/);
    const consumer = startExample("client-feed/consumer.mjs", { URL: `ws://127.0.0.1:${port}/`, SYMBOLS: "GLOBEX,INITECH" });
    await consumer.waitFor(/subscribed: GLOBEX\n/);
    await consumer.waitFor(/subscribed: GLOBEX, INITECH\n/);
    await consumer.waitFor(/^INITECH \d+\.\d\d \(#\d+\)$/m);
    expect(consumer.output()).not.toMatch(/^(ACME|UMBRELLA) /m);
    expect(await md.stop(), md.output()).toBe(0);
    await consumer.waitFor(/closed 1001/);
    await consumer.waitFor(/connection lost; retry 1 in \d+ ms/);
    expect(await consumer.stop(), consumer.output()).toBe(0);
  });
});

describe("examples/market-data (worker_threads producer, main-thread server)", () => {
  it("streams the ticks of the subscribed symbols only, in sequence order", { timeout: 30_000 }, async () => {
    const md = startExample("market-data/server.mjs", { TICK_MS: "20" });
    const [, port] = await md.waitFor(/market data on ws:\/\/127\.0\.0\.1:(\d+)/);
    const client = await openClient(`ws://127.0.0.1:${port}/`);
    expect(JSON.parse((await collect(client, 1))[0]!)).toEqual({ symbols: ["ACME", "GLOBEX", "INITECH", "UMBRELLA"] });

    client.send(JSON.stringify({ subscribe: "GLOBEX" }));
    expect(JSON.parse((await collect(client, 1))[0]!)).toEqual({ subscribed: ["GLOBEX"] });
    const ticks = (await collect(client, 10)).map((s) => JSON.parse(s) as { symbol: string; price: number; seq: number });
    for (const t of ticks) {
      expect(t.symbol).toBe("GLOBEX");
      expect(t.price).toBeGreaterThan(0);
    }
    for (let i = 1; i < ticks.length; i++) expect(ticks[i]!.seq).toBeGreaterThan(ticks[i - 1]!.seq);

    client.send(JSON.stringify({ subscribe: "NOPE" }));
    client.send(JSON.stringify({ unsubscribe: "GLOBEX" }));
    // Ticks already in flight may come first; the answers arrive in order after them.
    const rest: string[] = [];
    while (!rest.some((s) => s.includes('"subscribed"'))) rest.push(...(await collect(client, 1)));
    expect(rest.filter((s) => !s.includes('"symbol"')).map((s) => JSON.parse(s))).toEqual([
      { error: "unknown symbol", symbols: ["ACME", "GLOBEX", "INITECH", "UMBRELLA"] },
      { subscribed: [] },
    ]);

    expect(await md.stop(), md.output()).toBe(0);
    expect(md.output()).toMatch(/market data closed after \d+ ticks published/);
  });
});

describe("examples/browser (page and WebSockets on one port: lwsnode attached to node:http)", () => {
  it.runIf(needs("chromium", "the browser example's test"))("shows the server's messages in headless Chromium (checked on a screenshot)", { timeout: 60_000 }, async () => {
    const example = startExample("browser/server.mjs");
    const [, url, port, wsPort] = await example.waitFor(/open (http:\/\/127\.0\.0\.1:(\d+)\/) \(WebSockets on ws:\/\/127\.0\.0\.1:(\d+)\/ws, the same port\)/);
    expect(wsPort).toBe(port);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
      await page.goto(url!);
      await page.locator("#messages li").nth(1).waitFor({ timeout: 10_000 });
      // What another client sends is broadcast to the page too.
      const other = await openClient(`ws://127.0.0.1:${wsPort}/ws`);
      other.send("hello from node");
      await page.locator("#messages li", { hasText: "echo: hello from node" }).waitFor({ timeout: 10_000 });
      other.close();
      const shot = await page.screenshot({ fullPage: true });
      expect(await page.locator("#status").textContent()).toBe("open");
      const items = await page.locator("#messages li").allTextContents();
      expect(items[0]).toMatch(/^welcome, 127\.0\.0\.1$/);
      expect(items).toContain("echo: hello from the browser");
      expect(items).toContain("echo: hello from node");

      // Decode the screenshot in a blank page and count the message bubbles' blue pixels.
      const blank = await browser.newPage();
      const bluePixels = await blank.evaluate(async (b64: string) => {
        const { Image, OffscreenCanvas } = globalThis as unknown as BrowserGlobals;
        const img = new Image();
        img.src = `data:image/png;base64,${b64}`;
        await img.decode();
        const canvas = new OffscreenCanvas(img.width, img.height);
        const ctx = canvas.getContext("2d");
        ctx.drawImage(img, 0, 0);
        const px = ctx.getImageData(0, 0, img.width, img.height).data;
        let n = 0;
        for (let i = 0; i < px.length; i += 4) if (px[i] === 0 && px[i + 1] === 120 && px[i + 2] === 212) n++;
        return n;
      }, shot.toString("base64"));
      // Each bubble is 640 x 34 px at this viewport (~21,700 px less its text): more than two
      // bubbles' worth means all three were rendered.
      expect(bluePixels).toBeGreaterThan(45_000);
    } finally {
      await browser.close();
    }
    expect(await example.stop(), example.output()).toBe(0);
  });
});
