import { describe, expect, it } from "vitest";
import { VmStats } from "#shared/protocol.js";
import { countersOf, usageBetween, type VmCounters } from "./vm-usage-rates.js";

const counters = (over: Partial<VmCounters>): VmCounters => ({
  atMs: 0, cpuTimeNs: 0, vcpus: 2, memoryUsedBytes: 0, diskReadBytes: 0, diskWriteBytes: 0, networkInBytes: 0, networkOutBytes: 0, ...over,
});

describe("VM usage from two counter reports", () => {
  it("makes CPU % from the CPU time used over the wall time of all vCPUs, and byte rates from the deltas", () => {
    const prev = counters({ atMs: 1_000, cpuTimeNs: 5e9, diskReadBytes: 1000, diskWriteBytes: 0, networkInBytes: 10, networkOutBytes: 20 });
    // 10 s later, 5 s of CPU time on 2 vCPUs: a quarter of 20 vCPU-seconds.
    const next = counters({ atMs: 11_000, cpuTimeNs: 10e9, memoryUsedBytes: 512, diskReadBytes: 11_000, diskWriteBytes: 500, networkInBytes: 110, networkOutBytes: 20 });
    expect(usageBetween(prev, next)).toEqual({
      granularitySeconds: 10, cpuPercent: 25, memoryUsedBytes: 512,
      diskReadBytesPerSecond: 1000, diskWriteBytesPerSecond: 50, networkInBytesPerSecond: 10, networkOutBytesPerSecond: 0,
    });
  });

  it("clamps CPU at 100 % and makes no rate when no time passed or a counter went back (the domain restarted)", () => {
    expect(usageBetween(counters({ atMs: 0 }), counters({ atMs: 1000, cpuTimeNs: 5e9 }))?.cpuPercent).toBe(100);
    expect(usageBetween(counters({ atMs: 1000 }), counters({ atMs: 1000, cpuTimeNs: 1 }))).toBeUndefined();
    expect(usageBetween(counters({ atMs: 0, cpuTimeNs: 9e9 }), counters({ atMs: 1000, cpuTimeNs: 1e9 }))).toBeUndefined();
    expect(usageBetween(counters({ atMs: 0, networkInBytes: 50 }), counters({ atMs: 1000, networkInBytes: 0 }))).toBeUndefined();
  });

  it("sums disks and interfaces, and takes the guest's used memory when it reports one", () => {
    const s = VmStats.fromPartial({
      cpuTimeNs: 7, vcpusCurrent: 0, memoryCurrentKib: 1024, memoryUsedKib: 256,
      blocks: [{ rdBytes: 1, wrBytes: 2 }, { rdBytes: 10, wrBytes: 20 }], interfaces: [{ rxBytes: 3, txBytes: 4 }, { rxBytes: 30, txBytes: 40 }],
    });
    expect(countersOf(5, s)).toEqual({
      atMs: 5, cpuTimeNs: 7, vcpus: 1, memoryUsedBytes: 256 * 1024, diskReadBytes: 11, diskWriteBytes: 22, networkInBytes: 33, networkOutBytes: 44,
    });
    expect(countersOf(5, { ...s, memoryUsedKib: 0 }).memoryUsedBytes).toBe(1024 * 1024);
  });
});
