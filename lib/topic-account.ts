// A topic's account of what it published, so that a publish costs the same whatever the number
// of subscribers and bufferedAmount stays exact: a subscriber's backlog from a topic is the
// bytes the topic published since that subscriber last settled (published - base), folded into
// its bufferedAmount lazily, when read. Which subscribers a publish leaves at the high-water
// mark (PublishStatus.BACKPRESSURE, drain watches) is kept exact without visiting every one:
// only "hot" subscribers (at HOT or more when last looked at) are checked on each publish; the
// others are all re-read once the server's publishes since the last look could have carried
// one of them from below HOT to the mark.
import { BACKPRESSURE_HIGH_WATER_MARK } from "./send-status.js";

/** Below this a subscriber is not checked on every publish (see TopicAccount.pressured). */
export const HOT = BACKPRESSURE_HIGH_WATER_MARK / 2;

/** A subscriber as its topics see it (a ServerWebSocket). */
export interface TopicMember {
  /** Exact bufferedAmount now, backlogs settled; -1 once closed (it counts for nothing). */
  _bufferedNow(): number;
  /** It holds the high-water mark: a drain event is asked for (if still open). */
  _watchDrain(): void;
}

/** One subscription: shared by the socket's list and the topic's. */
export interface Subscription<M extends TopicMember> {
  readonly account: TopicAccount<M>;
  /** account.published when this subscriber last settled (moved its backlog into its own count). */
  base: number;
}

/** A topic of one server, on the JS thread. */
export class TopicAccount<M extends TopicMember> {
  /** Bytes published to the topic since it was made (a double: exact up to 2^53). */
  published = 0;
  /** Subscribers and their subscriptions. */
  readonly members = new Map<M, Subscription<M>>();
  // Members that may hold HOT or more: looked at on every publish. A member not in it was
  // below HOT when last looked at (at the last scan, or when it left this set, since), and
  // only the server's growth since can have raised it: by less than HWM - HOT while the growth
  // is below #limit.
  readonly #hot = new Set<M>();
  #limit = 0; // server growth at which a member not hot may reach the mark: scan them all

  /** Adds `member` (it may already hold any amount: it is looked at on the next publish). */
  join(member: M): Subscription<M> {
    const sub = { account: this, base: this.published };
    this.members.set(member, sub);
    this.#hot.add(member);
    return sub;
  }

  /** Removes `member`; its subscription's backlog must have been settled by the caller. */
  leave(member: M): void {
    this.members.delete(member);
    this.#hot.delete(member);
  }

  /** `member`'s own sends (or another topic) may have raised it to HOT: look at it on every publish. */
  heat(member: M): void {
    this.#hot.add(member);
  }

  /**
   * After a publish: whether a member other than `sender` holds the high-water mark (each that
   * does gets a drain watch). `grown`: every byte the server's publishes and broadcasts may
   * have added to any one socket so far (monotonic).
   */
  pressured(grown: number, sender: M | undefined): boolean {
    const hot = this.#hot;
    if (grown >= this.#limit) {
      // A member below HOT at the last look may have received up to HWM - HOT since: look again.
      for (const m of this.members.keys()) if (m._bufferedNow() >= HOT) hot.add(m);
      this.#limit = grown + (BACKPRESSURE_HIGH_WATER_MARK - HOT);
    }
    let any = false;
    for (const m of hot) {
      const b = m._bufferedNow();
      if (b < HOT) {
        // From here on only growth can raise it, and #limit bounds that as for the others
        // (their last look was no later than this one).
        hot.delete(m);
      } else if (b >= BACKPRESSURE_HIGH_WATER_MARK && m !== sender) {
        m._watchDrain();
        any = true;
      }
    }
    return any;
  }
}
