import { describe, expect, it } from "vitest";
import { MigrationProgressThrottle, toMigrationProgressMessage } from "./migration-progress-throttle.js";
import type { MigrationProgress } from "../drivers/hypervisor.js";

const sample = (over: Partial<MigrationProgress> = {}): MigrationProgress => ({
  elapsedMs: 100, dataProcessedBytes: 10, dataRemainingBytes: 90, dataTotalBytes: 100, dirtyRatePagesPerSec: undefined,
  memoryBandwidthBps: 5.4, expectedDowntimeMs: undefined, iteration: 1, ...over,
});

describe("migration progress to the manager", () => {
  it("sends 0 for what the driver did not report, and whole numbers", () => {
    expect(toMigrationProgressMessage("u", "c", sample())).toEqual({
      vmUuid: "u", commandId: "c", elapsedMs: 100, dataProcessedBytes: 10, dataRemainingBytes: 90, dataTotalBytes: 100,
      dirtyRatePagesPerSec: 0, memoryBandwidthBps: 5, expectedDowntimeMs: 0, iteration: 1,
    });
  });

  it("sends at most one sample per interval for each command", () => {
    let t = 0;
    const sent: string[] = [];
    const th = new MigrationProgressThrottle((m) => sent.push(`${m.commandId}@${m.elapsedMs}`), 500, () => t);
    expect(th.offer("u", "a", sample({ elapsedMs: 1 }))).toBe(true);
    t = 200;
    expect(th.offer("u", "a", sample({ elapsedMs: 2 }))).toBe(false);
    expect(th.offer("v", "b", sample({ elapsedMs: 3 }))).toBe(true);
    t = 500;
    expect(th.offer("u", "a", sample({ elapsedMs: 4 }))).toBe(true);
    expect(sent).toEqual(["a@1", "b@3", "a@4"]);
  });
});
