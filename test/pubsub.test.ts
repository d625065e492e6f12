// Pub/sub: topics, publish/broadcast fan-out, ordering, and the server's counters.
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  MAX_TOPIC_LENGTH,
  PublishStatus,
  ReadyState,
  type Server,
  type ServerOptions,
  type ServerWebSocket,
} from "../lib/index.js";
import {
  closed,
  nextMessage,
  openTracked,
  startServer,
  urlOf,
  useCleanup,
  waitFor,
  withTimeout,
  thrown,
} from "./helpers.js";

const defer = useCleanup();

interface Pair {
  /** The `ws` client. */
  client: WebSocket;
  /** The server's side of the same connection. */
  ws: ServerWebSocket;
}

interface Hub {
  server: Server;
  sockets: ServerWebSocket[];
  closes: { ws: ServerWebSocket; code: number }[];
  /** Opens one client and returns it with its server-side socket (connect one at a time). */
  connect(): Promise<Pair>;
}

/** A server that records its sockets and closes; clients are paired with their server sockets. */
async function hub(options: ServerOptions = {}): Promise<Hub> {
  const sockets: ServerWebSocket[] = [];
  const closes: Hub["closes"] = [];
  const server = await startServer(defer, {
    open: (ws) => void sockets.push(ws),
    close: (ws, code) => void closes.push({ ws, code }),
    ...options,
  });
  async function connect(): Promise<Pair> {
    const index = sockets.length;
    const client = await openTracked(defer, urlOf(server));
    await waitFor(() => sockets.length > index, 5000, "the open handler");
    return { client, ws: sockets[index]! };
  }
  return { server, sockets, closes, connect };
}

async function text(client: WebSocket): Promise<string> {
  const m = await nextMessage(client);
  expect(m.isBinary).toBe(false);
  return m.data.toString();
}

/**
 * Proves a client got nothing more: a marker sent to it directly (sends and publishes from
 * this thread reach a socket in call order) must be the very next message.
 */
async function expectNothingBefore(pair: Pair, marker = "--marker--"): Promise<void> {
  pair.ws.send(marker);
  const m = await nextMessage(pair.client);
  expect(m.data.toString(), "a message arrived that should not have").toBe(marker);
}


describe("subscriptions", () => {
  it("subscribe() is true the first time and false when already subscribed; topics and isSubscribed follow", async () => {
    const { server, connect } = await hub();
    const { ws } = await connect();
    expect(ws.topics).toEqual([]);
    expect(ws.isSubscribed("news")).toBe(false);
    expect(ws.subscribe("news")).toBe(true);
    expect(ws.subscribe("news")).toBe(false);
    expect(ws.subscribe("sport")).toBe(true);
    expect(ws.isSubscribed("news")).toBe(true);
    expect(ws.isSubscribed("sport")).toBe(true);
    expect(ws.isSubscribed("weather")).toBe(false);
    expect(ws.topics.sort()).toEqual(["news", "sport"]);
    expect(server.subscriberCount("news")).toBe(1);
    expect(server.subscriberCount("sport")).toBe(1);
    expect(server.subscriberCount("weather")).toBe(0);
  });

  it("unsubscribe() is true when subscribed, false otherwise, and stops delivery", async () => {
    const { server, connect } = await hub();
    const a = await connect();
    expect(a.ws.subscribe("news")).toBe(true);
    expect(a.ws.unsubscribe("news")).toBe(true);
    expect(a.ws.unsubscribe("news")).toBe(false);
    expect(a.ws.unsubscribe("never")).toBe(false);
    expect(a.ws.isSubscribed("news")).toBe(false);
    expect(a.ws.topics).toEqual([]);
    expect(server.subscriberCount("news")).toBe(0);
    expect(server.publish("news", "after unsubscribe")).toBe(PublishStatus.NOT_PUBLISHED);
    await expectNothingBefore(a);
    // Subscribing again works.
    expect(a.ws.subscribe("news")).toBe(true);
    expect(server.publish("news", "again")).toBe(PublishStatus.SUCCESS);
    expect(await text(a.client)).toBe("again");
  });

  it("subscriberCount() counts sockets per topic as they subscribe and unsubscribe", async () => {
    const { server, connect } = await hub();
    const pairs: Pair[] = [];
    for (let i = 0; i < 5; i++) pairs.push(await connect());
    pairs.forEach((p, i) => {
      p.ws.subscribe("all");
      if (i % 2 === 0) p.ws.subscribe("even");
    });
    expect(server.subscriberCount("all")).toBe(5);
    expect(server.subscriberCount("even")).toBe(3);
    pairs[0]!.ws.unsubscribe("all");
    pairs[0]!.ws.unsubscribe("all");
    expect(server.subscriberCount("all")).toBe(4);
    expect(server.subscriberCount("even")).toBe(3);
  });

  it("subscriptions are dropped when a socket closes: the count drops to 0 and later publishes skip it", async () => {
    const { server, connect, closes } = await hub();
    const a = await connect();
    const b = await connect();
    const c = await connect();
    for (const p of [a, b, c]) p.ws.subscribe("room");
    b.ws.subscribe("other");
    expect(server.subscriberCount("room")).toBe(3);

    a.client.close(1000);
    await waitFor(() => closes.length === 1, 5000, "a's close handler");
    expect(server.subscriberCount("room")).toBe(2);
    expect(a.ws.topics).toEqual([]);
    expect(a.ws.isSubscribed("room")).toBe(false);

    // A later publish reaches the two open subscribers only: two frames written.
    const before = server.stats().messagesOut;
    expect(server.publish("room", "after a left")).toBe(PublishStatus.SUCCESS);
    expect(await text(b.client)).toBe("after a left");
    expect(await text(c.client)).toBe("after a left");
    await waitFor(() => server.stats().messagesOut - before === 2, 5000, "2 frames written");
    expect(a.ws.bufferedAmount).toBe(0);

    b.client.terminate();
    c.ws.close(1000);
    await waitFor(() => closes.length === 3, 5000, "every close handler");
    expect(server.subscriberCount("room")).toBe(0);
    expect(server.subscriberCount("other")).toBe(0);
    expect(server.publish("room", "nobody")).toBe(PublishStatus.NOT_PUBLISHED);
    expect(server.publish("other", "nobody")).toBe(PublishStatus.NOT_PUBLISHED);
    expect(server.stats().dropped).toBe(0);
  });

  it("a closed socket cannot subscribe, and unsubscribing it is harmless", async () => {
    const { server, connect, closes } = await hub();
    const a = await connect();
    a.ws.subscribe("t");
    a.client.close();
    await waitFor(() => closes.length === 1, 5000, "the close handler");
    expect(a.ws.readyState).toBe(ReadyState.CLOSED);
    expect(a.ws.subscribe("t")).toBe(false);
    expect(a.ws.unsubscribe("t")).toBe(false);
    expect(a.ws.publish("t", "x")).toBe(PublishStatus.NOT_PUBLISHED);
    expect(server.subscriberCount("t")).toBe(0);
  });

  it("topics are per server: the same name on another server is a different topic", async () => {
    const one = await hub();
    const two = await hub();
    const a = await one.connect();
    const b = await two.connect();
    a.ws.subscribe("shared");
    b.ws.subscribe("shared");
    expect(one.server.publish("shared", "from one")).toBe(PublishStatus.SUCCESS);
    expect(await text(a.client)).toBe("from one");
    await expectNothingBefore(b);
    expect(two.server.subscriberCount("shared")).toBe(1);
  });
});

describe("topic validation", () => {
  it("an empty topic throws RangeError everywhere a topic is taken", async () => {
    const { server, connect } = await hub();
    const { ws } = await connect();
    for (const fn of [
      () => ws.subscribe(""),
      () => ws.unsubscribe(""),
      () => ws.publish("", "x"),
      () => server.publish("", "x"),
    ]) {
      expect(thrown(fn)).toBeInstanceOf(RangeError);
    }
    expect(ws.topics).toEqual([]);
  });

  it("a non-string topic throws TypeError", async () => {
    const { server, connect } = await hub();
    const { ws } = await connect();
    for (const bad of [undefined, null, 42, {}, ["t"], Symbol("t")]) {
      const topic = bad as unknown as string;
      expect(thrown(() => ws.subscribe(topic))).toBeInstanceOf(TypeError);
      expect(thrown(() => ws.unsubscribe(topic))).toBeInstanceOf(TypeError);
      expect(thrown(() => ws.publish(topic, "x"))).toBeInstanceOf(TypeError);
      expect(thrown(() => server.publish(topic, "x"))).toBeInstanceOf(TypeError);
    }
    expect(ws.topics).toEqual([]);
  });

  it(`topics of ${MAX_TOPIC_LENGTH} characters are accepted, longer ones throw RangeError; Unicode names work`, async () => {
    const { server, connect } = await hub();
    const a = await connect();
    const longest = "t".repeat(MAX_TOPIC_LENGTH);
    expect(a.ws.subscribe(longest)).toBe(true);
    expect(thrown(() => a.ws.subscribe(longest + "t"))).toBeInstanceOf(RangeError);
    expect(thrown(() => server.publish(longest + "t", "x"))).toBeInstanceOf(RangeError);
    expect(a.ws.subscribe("日本語/チャット 🎉")).toBe(true);
    expect(server.publish(longest, "long")).toBe(PublishStatus.SUCCESS);
    expect(server.publish("日本語/チャット 🎉", "unicode")).toBe(PublishStatus.SUCCESS);
    expect(await text(a.client)).toBe("long");
    expect(await text(a.client)).toBe("unicode");
  });
});

describe("server.publish()", () => {
  it("reaches every subscriber and only them, as text and as binary", async () => {
    const { server, connect } = await hub();
    const a = await connect();
    const b = await connect();
    const outsider = await connect();
    a.ws.subscribe("news");
    b.ws.subscribe("news");
    outsider.ws.subscribe("sport");

    expect(server.publish("news", "héllo")).toBe(PublishStatus.SUCCESS);
    expect(server.publish("news", Buffer.from([0, 1, 2, 255]))).toBe(PublishStatus.SUCCESS);
    expect(server.publish("news", new Uint8Array([7, 8]).buffer)).toBe(PublishStatus.SUCCESS);
    expect(server.publish("news", "as binary", true)).toBe(PublishStatus.SUCCESS);
    expect(server.publish("news", Buffer.from("as text"), false)).toBe(PublishStatus.SUCCESS);

    for (const p of [a, b]) {
      const m1 = await nextMessage(p.client);
      expect(m1).toEqual({ data: Buffer.from("héllo"), isBinary: false });
      const m2 = await nextMessage(p.client);
      expect(m2).toEqual({ data: Buffer.from([0, 1, 2, 255]), isBinary: true });
      const m3 = await nextMessage(p.client);
      expect(m3).toEqual({ data: Buffer.from([7, 8]), isBinary: true });
      const m4 = await nextMessage(p.client);
      expect(m4).toEqual({ data: Buffer.from("as binary"), isBinary: true });
      const m5 = await nextMessage(p.client);
      expect(m5).toEqual({ data: Buffer.from("as text"), isBinary: false });
    }
    await expectNothingBefore(outsider);
  });

  it("returns false when the topic has no subscribers, true when it has", async () => {
    const { server, connect } = await hub();
    expect(server.publish("empty", "x")).toBe(PublishStatus.NOT_PUBLISHED);
    const a = await connect();
    expect(server.publish("empty", "x")).toBe(PublishStatus.NOT_PUBLISHED);
    a.ws.subscribe("empty");
    expect(server.publish("empty", "now")).toBe(PublishStatus.SUCCESS);
    expect(await text(a.client)).toBe("now");
    a.ws.unsubscribe("empty");
    expect(server.publish("empty", "x")).toBe(PublishStatus.NOT_PUBLISHED);
    await expectNothingBefore(a);
  });

  it("a socket subscribed to several topics gets each topic's publishes", async () => {
    const { server, connect } = await hub();
    const a = await connect();
    a.ws.subscribe("x");
    a.ws.subscribe("y");
    server.publish("x", "to x");
    server.publish("y", "to y");
    server.publish("z", "to z");
    expect(await text(a.client)).toBe("to x");
    expect(await text(a.client)).toBe("to y");
    await expectNothingBefore(a);
  });

  it("sends and publishes made from the JS thread reach a socket in call order", async () => {
    const { server, connect } = await hub();
    const a = await connect();
    a.ws.subscribe("t");
    const expected: string[] = [];
    for (let i = 0; i < 50; i++) {
      if (i % 3 === 0) {
        a.ws.send(`send ${i}`);
      } else if (i % 3 === 1) {
        server.publish("t", `publish ${i}`);
      } else {
        server.broadcast(`broadcast ${i}`);
      }
      expected.push(i % 3 === 0 ? `send ${i}` : i % 3 === 1 ? `publish ${i}` : `broadcast ${i}`);
    }
    const got: string[] = [];
    for (let i = 0; i < 50; i++) got.push(await text(a.client));
    expect(got).toEqual(expected);
  });

  it("a subscription made just before a publish gets it; one dropped just before does not", async () => {
    const { server, connect } = await hub();
    const a = await connect();
    const b = await connect();
    a.ws.subscribe("t");
    server.publish("t", "one"); // a only
    b.ws.subscribe("t");
    a.ws.unsubscribe("t");
    server.publish("t", "two"); // b only
    expect(await text(a.client)).toBe("one");
    expect(await text(b.client)).toBe("two");
    await expectNothingBefore(a);
    await expectNothingBefore(b);
  });
});

describe("ws.publish()", () => {
  it("reaches every subscriber except the sender", async () => {
    const { connect } = await hub();
    const a = await connect();
    const b = await connect();
    const c = await connect();
    const outsider = await connect();
    for (const p of [a, b, c]) p.ws.subscribe("chat");

    expect(a.ws.publish("chat", "from a")).toBe(PublishStatus.SUCCESS);
    expect(b.ws.publish("chat", Buffer.from("bin from b"))).toBe(PublishStatus.SUCCESS);

    expect(await text(b.client)).toBe("from a");
    expect(await text(c.client)).toBe("from a");
    expect(await nextMessage(a.client)).toEqual({ data: Buffer.from("bin from b"), isBinary: true });
    expect(await nextMessage(c.client)).toEqual({ data: Buffer.from("bin from b"), isBinary: true });
    await expectNothingBefore(a);
    await expectNothingBefore(b);
    await expectNothingBefore(c);
    await expectNothingBefore(outsider);
  });

  it("from a socket that is not subscribed, reaches every subscriber", async () => {
    const { connect } = await hub();
    const a = await connect();
    const b = await connect();
    const sender = await connect();
    a.ws.subscribe("chat");
    b.ws.subscribe("chat");
    expect(sender.ws.publish("chat", "hi all")).toBe(PublishStatus.SUCCESS);
    expect(await text(a.client)).toBe("hi all");
    expect(await text(b.client)).toBe("hi all");
    await expectNothingBefore(sender);
  });

  it("from inside the message handler: a chat room relay", async () => {
    const { connect } = await hub({
      message(ws, data) {
        ws.publish("room", `relay: ${data.toString()}`);
      },
    });
    const a = await connect();
    const b = await connect();
    a.ws.subscribe("room");
    b.ws.subscribe("room");
    a.client.send("hello from a");
    expect(await text(b.client)).toBe("relay: hello from a");
    await expectNothingBefore(a);
  });

  it("returns false for a topic without subscribers", async () => {
    const { connect } = await hub();
    const a = await connect();
    expect(a.ws.publish("nobody", "x")).toBe(PublishStatus.NOT_PUBLISHED);
  });
});

describe("server.broadcast()", () => {
  it("reaches every open socket, subscribed or not, text and binary", async () => {
    const { server, connect, closes } = await hub();
    const pairs: Pair[] = [];
    for (let i = 0; i < 4; i++) pairs.push(await connect());
    pairs[0]!.ws.subscribe("t");
    const gone = await connect();
    gone.client.close();
    await waitFor(() => closes.length === 1, 5000, "the close handler");

    const before = server.stats().messagesOut;
    server.broadcast("to everyone");
    server.broadcast(Buffer.from([1, 2, 3]));
    for (const p of pairs) {
      expect(await nextMessage(p.client)).toEqual({ data: Buffer.from("to everyone"), isBinary: false });
      expect(await nextMessage(p.client)).toEqual({ data: Buffer.from([1, 2, 3]), isBinary: true });
    }
    // 2 messages x 4 open sockets; the closed one got none.
    await waitFor(() => server.stats().messagesOut - before === 8, 5000, "8 frames written");
    await new Promise((r) => setTimeout(r, 100));
    expect(server.stats().messagesOut - before).toBe(8);
  });

  it("after the first and a middle socket close, it reaches exactly the others, each once", async () => {
    // The server keeps its open sockets in a list where a closing one's place is taken by the
    // last: this closes a head and a middle entry so that both moves happen.
    const { server, connect, closes } = await hub();
    const pairs: Pair[] = [];
    for (let i = 0; i < 5; i++) pairs.push(await connect());
    pairs[0]!.client.close();
    await waitFor(() => closes.length === 1, 5000, "the first close handler");
    pairs[2]!.client.close();
    await waitFor(() => closes.length === 2, 5000, "the second close handler");
    const open = [pairs[1]!, pairs[3]!, pairs[4]!];
    const late = await connect();
    open.push(late);

    const before = server.stats().messagesOut;
    server.broadcast("once each");
    for (const p of open) {
      expect(await nextMessage(p.client)).toEqual({ data: Buffer.from("once each"), isBinary: false });
      await expectNothingBefore(p);
    }
    // 4 broadcast frames plus the 4 markers, and nothing to the closed sockets.
    await waitFor(() => server.stats().messagesOut - before === 8, 5000, "8 frames written");
    await waitFor(() => server.stats().connections === 4, 5000, "4 open connections counted");
  });
});

describe("ordering at scale", () => {
  it(
    "1,000 subscribers each receive 200 numbered publishes in publish order, interleaved with a second topic",
    { timeout: 60_000 },
    async () => {
      const N = 1000;
      const P = 200;
      let opened = 0;
      const server = await startServer(defer, {
        open(ws) {
          const i = opened++;
          ws.subscribe("a");
          if (i % 2 === 0) ws.subscribe("b");
        },
      });

      interface Sub {
        client: WebSocket;
        a: number;
        b: number;
        both: boolean | undefined;
        last: string;
        error?: string;
      }
      const subs: Sub[] = [];
      defer(() => {
        for (const s of subs) s.client.terminate();
      });
      const t0 = Date.now();
      const open = (): Promise<void> =>
        new Promise((resolve, reject) => {
          const client = new WebSocket(urlOf(server));
          const sub: Sub = { client, a: 0, b: 0, both: undefined, last: "" };
          subs.push(sub);
          client.on("message", (data: Buffer, isBinary: boolean) => {
            if (sub.error) return;
            const s = data.toString();
            const [topic, n] = [s[0], Number(s.slice(2))];
            if (topic === "a" && !isBinary && n === sub.a) {
              // With both topics, a:i must come right after b:i-1 (or first).
              if (sub.both && sub.a > 0 && sub.last !== `b:${n - 1}`) sub.error = `a:${n} after ${sub.last}`;
              sub.a++;
            } else if (topic === "b" && isBinary && n === sub.b) {
              sub.both = true;
              if (sub.last !== `a:${n}`) sub.error = `b:${n} after ${sub.last}`;
              sub.b++;
            } else {
              sub.error = `unexpected ${isBinary ? "binary" : "text"} ${s} (next a ${sub.a}, next b ${sub.b})`;
            }
            sub.last = s;
          });
          client.once("open", () => resolve());
          client.once("error", reject);
        });
      // Connect in batches to stay within the listen backlog.
      for (let i = 0; i < N; i += 100) {
        await withTimeout(Promise.all(Array.from({ length: 100 }, open)), 20_000, `clients ${i}..${i + 99}`);
      }
      await waitFor(() => opened === N, 10_000, `${N} open handlers (saw ${opened})`);
      expect(server.subscriberCount("a")).toBe(N);
      expect(server.subscriberCount("b")).toBe(N / 2);
      const connectedAt = Date.now();

      const out0 = server.stats().messagesOut;
      for (let i = 0; i < P; i++) {
        expect(server.publish("a", `a:${i}`)).toBe(PublishStatus.SUCCESS);
        expect(server.publish("b", `b:${i}`, true)).toBe(PublishStatus.SUCCESS);
      }
      await waitFor(
        () => subs.every((s) => s.error !== undefined || (s.a === P && (s.both ? s.b === P : s.b === 0))),
        30_000,
        "every subscriber to receive every publish",
      );
      const doneAt = Date.now();
      const errors = subs.filter((s) => s.error).map((s) => s.error);
      expect(errors.slice(0, 5)).toEqual([]);
      expect(subs.filter((s) => s.both).length).toBe(N / 2);
      expect(subs.every((s) => s.a === P)).toBe(true);
      const deliveries = N * P + (N / 2) * P;
      await waitFor(() => server.stats().messagesOut - out0 === deliveries, 5000, `${deliveries} frames counted`);
      expect(server.stats().dropped).toBe(0);
      console.log(
        `ordering: ${N} clients connected in ${connectedAt - t0} ms; ${deliveries} deliveries in ${doneAt - connectedAt} ms`,
      );
    },
  );
});

describe("server.stats()", () => {
  it("counts connections, messages and bytes in, and one message out per delivery", async () => {
    const { server, connect, closes } = await hub({
      message(ws, data, isBinary) {
        ws.send(data, isBinary); // echo
      },
    });
    expect(server.stats()).toMatchObject({
      connections: 0,
      connectionsTotal: 0,
      rejected: 0,
      messagesIn: 0,
      bytesIn: 0,
      messagesOut: 0,
      bytesOut: 0,
      queuedBytes: 0,
      dropped: 0,
    });
    const a = await connect();
    const b = await connect();
    const c = await connect();
    expect(server.stats().connections).toBe(3);
    expect(server.stats().connectionsTotal).toBe(3);

    // In: 2 messages of 5 and 1003 bytes (UTF-8 "é" is 2 bytes), echoed back.
    a.client.send("héllo".slice(0, 4) + "!"); // "héll!" = 6 bytes
    b.client.send(Buffer.alloc(1003, 1));
    expect(await text(a.client)).toBe("héll!");
    expect((await nextMessage(b.client)).data.length).toBe(1003);
    await waitFor(() => server.stats().messagesIn === 2, 5000, "2 messages in");
    expect(server.stats().bytesIn).toBe(6 + 1003);
    await waitFor(() => server.stats().messagesOut === 2, 5000, "2 echoes out");
    expect(server.stats().bytesOut).toBe(6 + 1003);

    // Out: a publish to 3 subscribers is 3 messages; a ws.publish to the other 2 is 2.
    for (const p of [a, b, c]) p.ws.subscribe("t");
    server.publish("t", "1234567890");
    a.ws.publish("t", "abc");
    for (const p of [a, b, c]) expect(await text(p.client)).toBe("1234567890");
    expect(await text(b.client)).toBe("abc");
    expect(await text(c.client)).toBe("abc");
    await waitFor(() => server.stats().messagesOut === 2 + 3 + 2, 5000, "7 messages out");
    expect(server.stats().bytesOut).toBe(6 + 1003 + 3 * 10 + 2 * 3);
    expect(server.stats().queuedBytes).toBe(0);

    // Connections go down on close; the total does not.
    c.client.close();
    await closed(c.client);
    await waitFor(() => closes.length === 1, 5000, "the close handler");
    await waitFor(() => server.stats().connections === 2, 5000, "2 connections");
    expect(server.stats().connectionsTotal).toBe(3);
    expect(server.stats().dropped).toBe(0);
    expect(server.stats().rejected).toBe(0);
  });
});
