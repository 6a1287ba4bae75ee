import { describe, expect, it } from "vitest";
import { SharedTicker } from "./shared-ticker.js";

describe("SharedTicker", () => {
  it("runs entries in time order (ties in the order added), only once due, and skips cancelled ones", () => {
    let now = 1000;
    const t = new SharedTicker(10, () => now);
    const ran: string[] = [];
    t.at(1030, () => ran.push("c"));
    t.at(1010, () => ran.push("a"));
    const cancelled = t.at(1020, () => ran.push("x"));
    t.at(1010, () => ran.push("b"));
    t.at(1020, () => ran.push("d"));
    cancelled.cancel();
    t.runDue();
    expect(ran).toEqual([]);
    now = 1020;
    t.runDue();
    expect(ran).toEqual(["a", "b", "d"]);
    now = 2000;
    t.runDue();
    expect(ran).toEqual(["a", "b", "d", "c"]);
    expect(t.size).toBe(0);
    t.stop();
  });

  it("keeps order over many random entries", () => {
    let now = 0;
    const t = new SharedTicker(10, () => now);
    const ran: number[] = [];
    const times = Array.from({ length: 5000 }, (_, i) => (i * 7919) % 10007);
    for (const at of times) t.at(at, () => ran.push(at));
    now = 20_000;
    t.runDue();
    expect(ran).toEqual([...times].sort((a, b) => a - b));
    t.stop();
  });

  it("fires on its own timer", async () => {
    const t = new SharedTicker(5);
    const fired = await new Promise<number>((resolve) => { const at = Date.now() + 20; t.at(at, () => resolve(Date.now() - at)); });
    expect(fired).toBeGreaterThanOrEqual(0);
    t.stop();
  });
});
