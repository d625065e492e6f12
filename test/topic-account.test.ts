// A topic's account (lib/topic-account.ts) decides which subscribers a publish leaves at the
// high-water mark without looking at every subscriber on every publish. Here it runs against
// members whose bufferedAmount a model moves the ways a real socket's moves (publishes to this
// and other topics, broadcasts, the socket's own sends, writes), and every answer is checked
// against looking at every member.
import { describe, expect, it } from "vitest";
import { BACKPRESSURE_HIGH_WATER_MARK as HWM } from "../lib/index.js";
import { HOT, TopicAccount, type TopicMember } from "../lib/topic-account.js";

class Member implements TopicMember {
  buffered = 0;
  closed = false;
  drainWatches = 0;
  looks = 0;
  _bufferedNow(): number {
    this.looks++;
    return this.closed ? -1 : this.buffered;
  }
  _watchDrain(): void {
    this.drainWatches++;
  }
}

// A small deterministic generator, so a failure replays.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("TopicAccount.pressured()", () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`agrees with looking at every member, drain watches included (random run ${seed})`, () => {
      const rand = rng(seed);
      const members = Array.from({ length: 40 }, () => new Member());
      const topic = new TopicAccount<Member>();
      const other = new TopicAccount<Member>(); // a second topic sharing some members
      const subscribed = new Set<Member>();
      let grown = 0; // every byte a publish or broadcast of the server may add to one socket
      let pressuredAnswers = 0;
      for (let step = 0; step < 20_000; step++) {
        const r = rand();
        const m = members[Math.floor(rand() * members.length)]!;
        if (r < 0.03) {
          // join / leave this topic
          if (subscribed.has(m)) {
            topic.leave(m);
            subscribed.delete(m);
          } else if (!m.closed) {
            topic.join(m);
            subscribed.add(m);
          }
        } else if (r < 0.05) {
          other.join(m);
        } else if (r < 0.4) {
          // a publish to this topic, maybe from a member (which receives nothing)
          const bytes = Math.floor(rand() * (rand() < 0.1 ? 70_000 : 3_000));
          const sender = rand() < 0.3 ? m : undefined;
          grown += bytes;
          for (const s of subscribed) if (s !== sender && !s.closed) s.buffered += bytes;
          const before = new Map(members.map((x) => [x, x.drainWatches]));
          const expected = [...subscribed].filter((s) => s !== sender && !s.closed && s.buffered >= HWM);
          const answer = topic.pressured(grown, sender);
          expect(answer, `step ${step}`).toBe(expected.length > 0);
          if (answer) pressuredAnswers++;
          for (const s of expected) expect(s.drainWatches, `drain watch at step ${step}`).toBe(before.get(s)! + 1);
        } else if (r < 0.5) {
          // a publish to another topic, or a broadcast: the server's growth covers it
          const bytes = Math.floor(rand() * 5_000);
          grown += bytes;
          for (const s of members) if (!s.closed && rand() < 0.5) s.buffered += bytes;
        } else if (r < 0.6) {
          // the member's own send: at HOT or more it is heated (as ServerWebSocket does)
          m.buffered += Math.floor(rand() * 40_000);
          if (m.buffered >= HOT && subscribed.has(m)) topic.heat(m);
        } else if (r < 0.98) {
          // the I/O thread writes
          m.buffered = Math.max(0, m.buffered - Math.floor(rand() * 20_000));
        } else if (!m.closed) {
          m.closed = true;
        }
      }
      // The run went through both answers many times.
      expect(pressuredAnswers).toBeGreaterThan(100);
    });
  }

  it("looks at each member about once per (HWM - HOT) bytes of growth while none is near the mark", () => {
    const members = Array.from({ length: 1000 }, () => new Member());
    const topic = new TopicAccount<Member>();
    for (const m of members) topic.join(m);
    let grown = 0;
    const PUBLISHES = 10_000;
    for (let i = 0; i < PUBLISHES; i++) {
      grown += 64;
      for (const m of members) m.buffered = 512; // written as fast as they come
      expect(topic.pressured(grown, undefined)).toBe(false);
    }
    const looks = members.reduce((n, m) => n + m.looks, 0);
    // 10,000 publishes × 64 B = 640 KB of growth: about 640 KB / 32 KiB = 20 looks per member,
    // not 10,000.
    expect(looks / members.length).toBeLessThanOrEqual(Math.ceil((PUBLISHES * 64) / (HWM - HOT)) + 2);
  });
});
