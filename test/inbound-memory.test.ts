// Inbound messages and memory: a Buffer handed to a `message` handler stays valid after the
// handler returns (users keep them), and keeping a tiny one does not pin the large batch it
// arrived in. Large messages (16 KiB and up) live in blocks the reactor recycles once V8 has
// collected their Buffer: a kept one is never recycled, not even after its server is gone.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { frame, OP, openTracked, rawTracked, startServer, urlOf, useCleanup, waitFor } from "./helpers.js";

const defer = useCleanup();

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** ArrayBuffer bytes alive after a full collection. */
function liveArrayBuffers(): number {
  gc();
  gc();
  return process.memoryUsage().arrayBuffers;
}

describe("inbound message memory", () => {
  it("keeps 10,000 tiny messages from large batches valid, pinning no batch (arrayBuffers stays bounded)", async () => {
    const TINY = 10_000;
    const kept: Buffer[] = [];
    let bigSeen = 0;
    const server = await startServer(defer, {
      message(_ws, data) {
        if (data.length <= 8) kept.push(data); // the user keeps only the tiny ones
        else bigSeen++;
      },
    });
    const raw = await rawTracked(defer, server.port);
    // Each tiny message travels with 24 KiB of 12 KiB messages (below the size that gets its
    // own allocation), written together so that they share the server's event batches.
    const big = frame({ opcode: OP.BINARY, payload: Buffer.alloc(12 * 1024, 0x5a) });
    const tiny = (i: number): Buffer => {
      const p = Buffer.alloc(8);
      p.writeUInt32BE(i, 0);
      p.writeUInt32BE(~i >>> 0, 4);
      return frame({ opcode: OP.BINARY, payload: p });
    };
    const before = liveArrayBuffers();
    const PER_WRITE = 50;
    for (let i = 0; i < TINY; i += PER_WRITE) {
      const parts: Buffer[] = [];
      for (let k = i; k < i + PER_WRITE; k++) parts.push(tiny(k), big, big);
      if (!raw.socket.write(Buffer.concat(parts))) await new Promise((r) => raw.socket.once("drain", r));
    }
    await waitFor(() => kept.length === TINY, 60_000, "every tiny message");
    expect(bigSeen).toBe(2 * TINY);
    const grown = liveArrayBuffers() - before;

    // Every kept Buffer still holds its own bytes, after 240 MiB more went through the inbox.
    for (let i = 0; i < TINY; i++) {
      const b = kept[i]!;
      expect(b.length).toBe(8);
      if (b.readUInt32BE(0) !== i || b.readUInt32BE(4) !== ~i >>> 0) expect.fail(`kept message ${i} changed`);
    }
    // 10,000 messages of 8 bytes: pinning even one 24 KiB batch each would be 240 MiB; a
    // message may pin at most its 8 KiB page, and here each tiny message's page is its own.
    expect(grown).toBeLessThan(4 * 1024 * 1024);
  }, 120_000);

  it("hands handlers genuine Buffers: Buffer.prototype, their own bytes, each unaffected by writes to another", async () => {
    const seen: Buffer[] = [];
    const server = await startServer(defer, {
      message(_ws, data) {
        seen.push(data);
      },
    });
    const raw = await rawTracked(defer, server.port);
    // Sixteen messages in one write: they arrive in one delivery and share a page.
    const parts: Buffer[] = [];
    for (let i = 0; i < 16; i++) parts.push(frame({ opcode: OP.BINARY, payload: Buffer.alloc(10 + i, i) }));
    raw.socket.write(Buffer.concat(parts));
    await waitFor(() => seen.length === 16, 10_000, "16 messages");
    for (let i = 0; i < 16; i++) {
      const b = seen[i]!;
      expect(Object.getPrototypeOf(b)).toBe(Buffer.prototype);
      expect(Buffer.isBuffer(b)).toBe(true);
      expect(b.constructor).toBe(Buffer);
      expect(b.length).toBe(10 + i);
      // Buffer methods work and see only this message's bytes.
      expect(b.equals(Buffer.alloc(10 + i, i))).toBe(true);
      expect(b.subarray(1)).toBeInstanceOf(Buffer);
      // A view of at most its page, never of the whole delivery's inbox.
      expect(b.buffer.byteLength).toBeLessThanOrEqual(8 * 1024);
    }
    seen[0]!.fill(0xff); // the user owns it: writing to it changes no other message
    for (let i = 1; i < 16; i++) expect(seen[i]!.equals(Buffer.alloc(10 + i, i))).toBe(true);
  });

  /** A 64 KiB-ish message whose every byte says which message it is. */
  const patterned = (i: number, size: number): Buffer => {
    const b = Buffer.alloc(size, i & 0xff);
    b.writeUInt32BE(i, 0);
    return b;
  };
  const intact = (b: Buffer, i: number, size: number): boolean =>
    b.length === size && b.readUInt32BE(0) === i && b[4] === (i & 0xff) && b[size - 1] === (i & 0xff) && b[size >> 1] === (i & 0xff);

  it("keeps a large Buffer intact while the blocks of the dropped ones are recycled for later messages", async () => {
    const SIZE = 64 * 1024 + 3;
    const ROUNDS = 20;
    const PER_ROUND = 32;
    const kept = new Map<number, Buffer>();
    let seen = 0;
    const server = await startServer(defer, {
      message(_ws, data) {
        const i = data.readUInt32BE(0);
        if (i % 16 === 0) kept.set(i, data); // the user keeps one in 16
        seen++;
      },
    });
    const client = await openTracked(defer, urlOf(server));
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < PER_ROUND; k++) client.send(patterned(round * PER_ROUND + k, SIZE));
      await waitFor(() => seen === (round + 1) * PER_ROUND, 20_000, `round ${round}`);
      gc(); // the dropped Buffers' blocks go back to the pool; the next round takes them again
      for (const [i, b] of kept) if (!intact(b, i, SIZE)) expect.fail(`kept message ${i} changed in round ${round}`);
    }
    expect(kept.size).toBe((ROUNDS * PER_ROUND) / 16);
  }, 60_000);

  it("keeps a large Buffer valid after its server and reactor are gone", async () => {
    const SIZE = 1024 * 1024 + 1;
    const kept: Buffer[] = [];
    const server = await startServer(defer, {
      message(_ws, data) {
        kept.push(data);
      },
    });
    const client = await openTracked(defer, urlOf(server), { maxPayload: 2 * SIZE });
    for (let i = 0; i < 8; i++) client.send(patterned(i, SIZE));
    await waitFor(() => kept.length === 8, 20_000, "eight messages");
    client.terminate();
    await server.close(); // the last server of this reactor: it stops and closes its pool
    gc();
    for (let i = 0; i < 8; i++) expect(intact(kept[i]!, i, SIZE)).toBe(true);
    kept.length = 0;
    gc(); // now their blocks go back to a closed pool, which frees them (ASan checks)
    gc();
  }, 30_000);
});
