// The snapshot cache's bookkeeping around overlapping builds, with builds and the clock under the
// test's control (no database).
import { describe, expect, it } from "vitest";
import { cpuHost } from "../allocator/testing/fleet-builder.js";
import type { FleetSnapshot } from "../allocator/types.js";
import type { Db } from "../db/database.js";
import { SnapshotCache } from "./snapshot-cache.js";

/** Builds that end when the test says, each returning host "1" at the given generation. */
function controlledBuilds() {
  const waiting: { resolve: (s: FleetSnapshot) => void; scope: unknown }[] = [];
  const build = (_db: unknown, scope: unknown) => new Promise<FleetSnapshot>((resolve) => waiting.push({ resolve, scope }));
  const finish = (i: number, generation: number) => waiting[i]!.resolve({ hosts: [cpuHost("1", { generation })] });
  /** Builds that re-read only some hosts (dirty ones). */
  const rereads = () => waiting.filter((w) => (w.scope as { hostIds?: number[] }).hostIds !== undefined);
  return { build: build as never, waiting, finish, rereads };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("SnapshotCache", () => {
  it("an older build ending after a newer one does not replace it (the commits it missed are not lost)", async () => {
    let now = 0;
    const b = controlledBuilds();
    const cache = new SnapshotCache(null as unknown as Db, { maxAgeMs: 5, now: () => now, build: b.build });

    const first = cache.get("env");
    b.finish(0, 0);
    expect((await first).generations.get("1")).toBe(0);

    now = 10; // past the maximum age: get() serves the entry and starts a background build (A)
    await cache.get("env");
    expect(b.waiting).toHaveLength(2);
    now = 20; // this process's commit on host 1 lands (generation 1) while A is reading
    cache.landedOn("env", ["1"]);
    now = 30; // a caller needs a fresh snapshot: build B starts and ends first, seeing the commit
    const forced = cache.get("env", true);
    b.finish(2, 1);
    expect((await forced).generations.get("1")).toBe(1);

    now = 40; // A ends last, with what it read before the commit landed
    b.finish(1, 0);
    await tick();
    const after = await cache.get("env");
    expect(after.generations.get("1")).toBe(1);
    expect(after.builtAt).toBe(30);
    expect(b.rereads()).toHaveLength(0); // and nothing needed re-reading
  });

  it("a build that read a host before this process's commit on it landed re-reads that host", async () => {
    let now = 0;
    const b = controlledBuilds();
    const cache = new SnapshotCache(null as unknown as Db, { maxAgeMs: 5, now: () => now, build: b.build });
    const first = cache.get("env");
    b.finish(0, 0);
    await first;
    now = 10;
    await cache.get("env"); // background build A starts at 10
    now = 20;
    cache.landedOn("env", ["1"]);
    b.finish(1, 0); // A read host 1 before the commit
    await tick();
    const next = cache.get("env"); // A's first use: host 1 is re-read
    await tick();
    expect(b.rereads().map((w) => w.scope)).toEqual([{ environment: "env", hostIds: [1] }]);
    b.finish(b.waiting.indexOf(b.rereads()[0]!), 1);
    expect((await next).generations.get("1")).toBe(1);
  });
});
