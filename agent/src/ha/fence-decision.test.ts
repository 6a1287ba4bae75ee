import { describe, expect, it } from "vitest";
import { decideFence, type FenceInputs } from "./fence-decision.js";

const base: FenceInputs = {
  now: 100_000, selfFenceAfterMs: 10_000, hasHeartbeatDir: true,
  lastManagerContactMs: 100_000, lastHeartbeatOkMs: 100_000, fencedAtMs: undefined,
};

describe("decideFence", () => {
  const cases: [string, Partial<FenceInputs>, string][] = [
    ["everything fine", {}, "watch"],
    ["no heartbeat dir, both failing for long", { hasHeartbeatDir: false, lastManagerContactMs: 0, lastHeartbeatOkMs: 0 }, "off"],
    ["setting 0, both failing for long", { selfFenceAfterMs: 0, lastManagerContactMs: 0, lastHeartbeatOkMs: 0 }, "off"],
    ["manager away for long, storage fine", { lastManagerContactMs: 0 }, "watch"],
    ["storage failing for long, manager fine", { lastHeartbeatOkMs: 0 }, "watch"],
    ["both failing, one just under the window", { lastManagerContactMs: 0, lastHeartbeatOkMs: 90_001 }, "watch"],
    ["both failing for exactly the window", { lastManagerContactMs: 90_000, lastHeartbeatOkMs: 90_000 }, "fence"],
    ["both failing beyond the window", { lastManagerContactMs: 0, lastHeartbeatOkMs: 50_000 }, "fence"],
    ["fenced, manager not reached since", { fencedAtMs: 95_000, lastManagerContactMs: 80_000 }, "stay-fenced"],
    ["fenced, storage back but manager not", { fencedAtMs: 95_000, lastManagerContactMs: 80_000, lastHeartbeatOkMs: 100_000 }, "stay-fenced"],
    ["fenced, manager reached since", { fencedAtMs: 95_000, lastManagerContactMs: 99_000 }, "unfence"],
    ["fenced without a dir any more: still fenced until the manager", { fencedAtMs: 95_000, lastManagerContactMs: 80_000, hasHeartbeatDir: false }, "stay-fenced"],
  ];
  it.each(cases)("%s", (_name, over, action) => {
    expect(decideFence({ ...base, ...over }).action).toBe(action);
  });

  it("counts the isolation from the later of the two failures", () => {
    expect(decideFence({ ...base, lastManagerContactMs: 70_000, lastHeartbeatOkMs: 95_000 })).toEqual({ action: "watch", isolatedForMs: 5_000 });
    expect(decideFence({ ...base, lastManagerContactMs: 88_000, lastHeartbeatOkMs: 20_000 })).toEqual({ action: "fence", isolatedForMs: 12_000 });
  });
});
