// Runs conformance cases against a server and grades each like Autobahn (see cases.ts).
import { closePayload, frame, OP } from "../helpers.js";
import type { Case, Expected } from "./cases.js";
import { Session, type Observed } from "./session.js";

export type Grade = "strict" | "non-strict" | "failed";

export interface Verdict {
  id: string;
  category: string;
  grade: Grade;
  note: string;
}

/** How long a case may take to reach its close; a conforming server needs far less. */
const WAIT_MS = 3000;
/** A TCP connection still open this long after the closing handshake lingers (non-strict). */
const LINGER_MS = 2000;

function same(o: Observed, e: Expected): boolean {
  if (o.kind !== e.kind) return false;
  if (o.kind === "message" && (o.binary !== (e.binary ?? false))) return false;
  return (o as { data: Buffer }).data.equals(e.data);
}

function describe(o: Observed): string {
  if (o.kind === "message") return `${o.binary ? "binary" : "text"}(${o.data.length})`;
  if (o.kind === "pong" || o.kind === "ping") return `${o.kind}(${o.data.toString().slice(0, 20)})`;
  if (o.kind === "close") return `close(${o.code})`;
  return o.what;
}

export async function runCase(port: number, c: Case): Promise<Verdict> {
  const verdict = (grade: Grade, note: string): Verdict => ({ id: c.id, category: c.category, grade, note });
  let s: Session;
  try {
    s = await Session.open(port, c.offer);
  } catch (err) {
    const message = (err as Error).message;
    if (c.refusalAllowed && /answered HTTP\/1\.1 4\d\d/.test(message)) return verdict("non-strict", `refused the handshake instead of declining the offer (${message})`);
    return verdict("failed", `handshake: ${message}`);
  }
  try {
    const problem = c.check?.(s);
    if (typeof problem === "string") return verdict("failed", problem);
    await c.run(s);
    const replies = (): Observed[] => s.messages();
    if (c.close === "open") {
      await s.until(() => replies().length >= c.expect.length || s.closeAt !== undefined || s.endedAt !== undefined, WAIT_MS);
      s.write(frame({ opcode: OP.CLOSE, payload: closePayload(1000) }));
    }
    await s.until(() => s.closeAt !== undefined || s.endedAt !== undefined, WAIT_MS);
    const close = s.closeFrame();
    if (close && c.close !== "open") s.write(frame({ opcode: OP.CLOSE, payload: closePayload(close.code ?? 1000) }));
    const closedAt = close ? s.closeAt! : Date.now();
    await s.until(() => s.endedAt !== undefined, LINGER_MS + 500);

    if (s.framesAfterClose) return verdict("failed", `${s.framesAfterClose} frame(s) after the server's close`);
    const broken = s.observed.find((o) => o.kind === "protocol-error");
    if (broken) return verdict("failed", describe(broken));
    const got = replies();
    const gotText = got.map(describe).join(" ") || "nothing";
    const matches = got.length === c.expect.length && got.every((o, i) => same(o, c.expect[i]!));
    const prefix = got.length < c.expect.length && got.every((o, i) => same(o, c.expect[i]!));
    let grade: Grade = problem ? "non-strict" : "strict";
    const notes: string[] = problem ? [problem.nonStrict] : [];
    if (!matches) {
      if (c.failFast && prefix) {
        grade = "non-strict";
        notes.push(`closed before echoing everything (${gotText})`);
      } else {
        return verdict("failed", `expected ${c.expect.length} replies, got ${gotText}`);
      }
    }
    const allowed = c.close === "open" ? [1000] : c.close;
    if (!close) {
      if (c.close === "open") return verdict("failed", "no close reply");
      grade = "non-strict";
      notes.push("dropped without a close frame");
    } else if (!allowed.includes(close.code ?? 1005)) {
      return verdict("failed", `closed with ${close.code ?? "no code"}, expected ${allowed.join("/")}`);
    }
    if (s.endedAt === undefined || s.endedAt - closedAt > LINGER_MS) {
      grade = "non-strict";
      notes.push("TCP connection lingered");
    }
    return verdict(grade, notes.join("; "));
  } catch (err) {
    return verdict("failed", `error: ${(err as Error).message}`);
  } finally {
    s.destroy();
  }
}

/** Runs `cases` against `port`, `concurrency` at a time, in order of the list. */
export async function runAll(port: number, cases: readonly Case[], concurrency = 8): Promise<Verdict[]> {
  const out: Verdict[] = new Array(cases.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < cases.length) {
      const i = next++;
      out[i] = await runCase(port, cases[i]!);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

export interface Summary {
  target: string;
  strict: number;
  nonStrict: number;
  failed: number;
}

export function summarize(target: string, verdicts: readonly Verdict[]): Summary {
  return {
    target,
    strict: verdicts.filter((v) => v.grade === "strict").length,
    nonStrict: verdicts.filter((v) => v.grade === "non-strict").length,
    failed: verdicts.filter((v) => v.grade === "failed").length,
  };
}

/** The table printed at the end of a run (and kept in the README). */
export function table(summaries: readonly Summary[], verdicts: Map<string, readonly Verdict[]>): string {
  const lines = ["| target | cases | strict | non-strict | failed |", "| --- | --- | --- | --- | --- |"];
  for (const s of summaries) lines.push(`| ${s.target} | ${s.strict + s.nonStrict + s.failed} | ${s.strict} | ${s.nonStrict} | ${s.failed} |`);
  for (const [target, vs] of verdicts) {
    for (const v of vs) if (v.grade !== "strict") lines.push(`  ${target}: ${v.grade.toUpperCase()} ${v.id}: ${v.note}`);
  }
  return lines.join("\n");
}
