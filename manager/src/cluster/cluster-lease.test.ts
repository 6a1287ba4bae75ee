// ClusterLease and ClusterDuties between two manager instances on one database, with a fake clock:
// one holder at a time, renewal, takeover after the ttl, release on stop.
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { ClusterLease } from "./cluster-lease.js";
import { ClusterDuties, type Duty, type DutyName } from "./duties.js";

let database: Database;
beforeAll(async () => { database = await openTestDatabase(); });
afterAll(async () => { await database?.close(); });

const log = pino({ level: "silent" });

describe("ClusterLease", () => {
  it("one holder at a time; renewed by its holder; taken by another once expired; released at once", async () => {
    let now = 1_000_000;
    const clock = () => now;
    const a = new ClusterLease({ db: database.db, name: "lease-1", holder: "a", ttlMs: 30_000, now: clock });
    const b = new ClusterLease({ db: database.db, name: "lease-1", holder: "b", ttlMs: 30_000, now: clock });
    expect(await a.acquire()).toBe(true);
    expect(await b.acquire()).toBe(false);
    expect(await a.holder()).toBe("a");
    now += 20_000;
    expect(await a.renew()).toBe(true); // now expires at +50 s
    now += 20_000;
    expect(await b.acquire()).toBe(false); // a renewed: not expired yet
    now += 10_001;
    expect(await b.acquire()).toBe(true); // a died: expired, b takes it
    expect(await a.renew()).toBe(false);
    expect(await a.acquire()).toBe(false);
    expect(await b.holder()).toBe("b");
    await b.release();
    expect(await a.holder()).toBeUndefined();
    expect(await a.acquire()).toBe(true); // no wait for the ttl after a release
  });

  it("two instances racing for a free lease: exactly one wins", async () => {
    const tries = await Promise.all(["x", "y", "z", "w"].map((h) => new ClusterLease({ db: database.db, name: "lease-race", holder: h, ttlMs: 30_000 }).acquire()));
    expect(tries.filter(Boolean)).toHaveLength(1);
  });
});

function recordingDuty(name: DutyName, running: Set<string>, who: string): Duty {
  return {
    name,
    start: () => { running.add(`${who}:${name}`); },
    stop: async () => { running.delete(`${who}:${name}`); },
  };
}

describe("ClusterDuties", () => {
  it("each duty runs in one instance; the other takes it when the holder stops renewing (died) or stops", async () => {
    let now = 5_000_000;
    const clock = () => now;
    const running = new Set<string>();
    const names: DutyName[] = ["host-liveness", "ha"];
    const mk = (who: string) => new ClusterDuties({
      db: database.db, holder: who, ttlMs: 30_000, log, now: clock, renewEveryMs: 3_600_000,
      duties: names.map((n) => recordingDuty(n, running, who)),
    });
    const a = mk("duties-a");
    const b = mk("duties-b");
    await a.tick();
    await b.tick();
    expect([...running].sort()).toEqual(["duties-a:ha", "duties-a:host-liveness"]);
    expect(a.held().sort()).toEqual(["ha", "host-liveness"]);
    expect(b.held()).toEqual([]);

    now += 10_000;
    await a.tick(); // renewed
    now += 25_000;
    await b.tick();
    expect(b.held()).toEqual([]); // a's renewal holds

    // a dies (no more ticks): once its leases expire, b takes both.
    now += 5_001;
    await b.tick();
    expect(b.held().sort()).toEqual(["ha", "host-liveness"]);
    // a comes back to life (a long pause): its next round finds the leases gone and stops its duties.
    await a.tick();
    expect(a.held()).toEqual([]);
    expect([...running].sort()).toEqual(["duties-b:ha", "duties-b:host-liveness"]);

    // b stops gracefully: the leases are released, a takes them at its next round without waiting.
    await b.stop();
    expect(running.size).toBe(0);
    await a.tick();
    expect(a.held().sort()).toEqual(["ha", "host-liveness"]);
    await a.stop();
  });
});
