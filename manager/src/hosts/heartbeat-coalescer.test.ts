import { afterEach, describe, expect, it, vi } from "vitest";
import { HeartbeatCoalescer, type HeartbeatStore, type HeartbeatWrite } from "./heartbeat-coalescer.js";

/** A store that records what it was asked to write, in order. */
function fakeStore() {
  const calls: ({ op: "markUp"; hostId: number; at?: Date } | { op: "batch"; batch: HeartbeatWrite[] } | { op: "markStale" })[] = [];
  let failNext = false;
  let stale: number[] = [];
  let notUp: number[] = [];
  const store: HeartbeatStore = {
    markUp: async (hostId, at) => { calls.push(at ? { op: "markUp", hostId, at } : { op: "markUp", hostId }); },
    recordHeartbeats: async (batch) => {
      if (failNext) { failNext = false; throw new Error("database away"); }
      calls.push({ op: "batch", batch: [...batch] });
      return batch.filter((w) => notUp.includes(w.hostId)).map((w) => w.hostId);
    },
    markStale: async () => { calls.push({ op: "markStale" }); return stale; },
  };
  return { store, calls, failNextFlush: () => { failNext = true; }, staleWillBe: (ids: number[]) => { stale = ids; }, notUpWillBe: (ids: number[]) => { notUp = ids; } };
}

const t = (ms: number) => new Date(1_700_000_000_000 + ms);

describe("HeartbeatCoalescer", () => {
  afterEach(() => { vi.useRealTimers(); });

  it("writes the newest heartbeat of each host known Up in one statement per flush, and resolves every caller", async () => {
    const f = fakeStore();
    const c = new HeartbeatCoalescer(f.store, { tickMs: 100 });
    await c.markUp(1); await c.markUp(2); // streams opened: Up at once
    f.calls.length = 0;
    const waiting = [c.markUp(1, t(10)), c.markUp(1, t(30)), c.markUp(2, t(20)), c.markUp(1, t(25))];
    expect(c.pending()).toBe(2);
    expect(f.calls).toEqual([]);
    await c.flush();
    await Promise.all(waiting);
    expect(f.calls).toEqual([{ op: "batch", batch: [{ hostId: 1, at: t(30) }, { hostId: 2, at: t(20) }] }]);
    expect(c.pending()).toBe(0);
  });

  it("flushes on its tick, one statement for all hosts heard from", async () => {
    vi.useFakeTimers();
    const f = fakeStore();
    const c = new HeartbeatCoalescer(f.store, { tickMs: 100 });
    for (const id of [1, 2, 3]) await c.markUp(id);
    f.calls.length = 0;
    c.start();
    const waiting = Promise.all([1, 2, 3].map((id) => c.markUp(id, t(id))));
    await vi.advanceTimersByTimeAsync(100);
    await waiting;
    expect(f.calls).toHaveLength(1);
    expect(f.calls[0]).toMatchObject({ op: "batch" });
    await vi.advanceTimersByTimeAsync(500); // nothing waits: no statement
    expect(f.calls).toHaveLength(1);
    await c.stop();
  });

  it("marks a host not known Up at once, without waiting for a flush", async () => {
    const f = fakeStore();
    const c = new HeartbeatCoalescer(f.store, { tickMs: 100 });
    await c.markUp(7, t(1)); // resolves with no flush at all
    expect(f.calls).toEqual([{ op: "markUp", hostId: 7, at: t(1) }]);
    expect(c.pending()).toBe(0);
  });

  it("flushes before the stale check, and a host marked Suspect is marked Up at once when heard from again", async () => {
    const f = fakeStore();
    const c = new HeartbeatCoalescer(f.store, { tickMs: 100 });
    await c.markUp(1); await c.markUp(2);
    f.calls.length = 0;
    const hb = c.markUp(1, t(5));
    f.staleWillBe([2]);
    expect(await c.markStale(t(0))).toEqual([2]);
    await hb;
    expect(f.calls.map((x) => x.op)).toEqual(["batch", "markStale"]);
    f.calls.length = 0;
    await c.markUp(2, t(9));
    expect(f.calls).toEqual([{ op: "markUp", hostId: 2, at: t(9) }]);
  });

  it("a host whose stream closed is marked Up at once on its next heartbeat", async () => {
    const f = fakeStore();
    const c = new HeartbeatCoalescer(f.store, { tickMs: 100 });
    await c.markUp(3);
    c.forget(3);
    f.calls.length = 0;
    await c.markUp(3, t(1));
    expect(f.calls).toEqual([{ op: "markUp", hostId: 3, at: t(1) }]);
  });

  it("writes what waits when stopped", async () => {
    const f = fakeStore();
    const c = new HeartbeatCoalescer(f.store, { tickMs: 60_000 });
    c.start();
    await c.markUp(4);
    f.calls.length = 0;
    const hb = c.markUp(4, t(2));
    await c.stop();
    await hb;
    expect(f.calls).toEqual([{ op: "batch", batch: [{ hostId: 4, at: t(2) }] }]);
  });

  it("a failed flush rejects its callers and keeps the entries for the next one, unless a newer heartbeat came", async () => {
    const f = fakeStore();
    const c = new HeartbeatCoalescer(f.store, { tickMs: 100 });
    await c.markUp(1); await c.markUp(2);
    f.calls.length = 0;
    const a = c.markUp(1, t(1)).catch((e: unknown) => e);
    const b = c.markUp(2, t(1)).catch((e: unknown) => e);
    f.failNextFlush();
    await expect(c.flush()).rejects.toThrow("database away");
    expect(await a).toBeInstanceOf(Error);
    expect(await b).toBeInstanceOf(Error);
    const newer = c.markUp(2, t(8));
    await c.flush();
    await newer;
    expect(f.calls).toHaveLength(1);
    const batch = (f.calls[0] as { batch: HeartbeatWrite[] }).batch;
    expect(batch.sort((x, y) => x.hostId - y.hostId)).toEqual([{ hostId: 1, at: t(1) }, { hostId: 2, at: t(8) }]);
  });

  it("tells who came back Up: a heartbeat marked Up at once, or a host the flush found not Up", async () => {
    const f = fakeStore();
    const back: number[] = [];
    const c = new HeartbeatCoalescer(f.store, { tickMs: 100, cameBackUp: (id) => back.push(id) });
    await c.markUp(1); await c.markUp(2); // streams opened: not a heartbeat, nothing to tell
    expect(back).toEqual([]);
    await c.markUp(3, t(1)); // not known Up
    expect(back).toEqual([3]);
    f.notUpWillBe([2]); // e.g. another manager marked it Suspect
    const hbs = [c.markUp(1, t(2)), c.markUp(2, t(2))];
    await c.flush();
    await Promise.all(hbs);
    expect(back).toEqual([3, 2]);
  });
});
