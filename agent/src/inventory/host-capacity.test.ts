import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "#shared/errors.js";
import { computeHostCapacity, usableMemoryMib } from "./host-capacity.js";

describe("host capacity", () => {
  it("usable memory is total minus the reserve", () => {
    expect(usableMemoryMib(65536, 4096)).toBe(61440);
    expect(usableMemoryMib(2048, 4096)).toBe(0);
  });

  it("computes memory and CPU capacity with a reserve", () => {
    expect(computeHostCapacity({ memoryMib: 5850, cpus: 2 }, { memoryMib: 1024, cpus: 1 })).toEqual({
      totalMemoryMib: 5850, reservedMemoryMib: 1024, usableMemoryMib: 4826, totalCpus: 2, reservedCpus: 1, usableCpus: 1,
    });
    expect(computeHostCapacity({ memoryMib: 512, cpus: 1 }, { memoryMib: 1024 })).toMatchObject({
      reservedMemoryMib: 512, usableMemoryMib: 0, reservedCpus: 0, usableCpus: 1,
    });
  });

  it("rejects a negative or non-numeric reserve, naming the setting", () => {
    expect(() => usableMemoryMib(1024, -1)).toThrow(InvalidArgumentError);
    expect(() => computeHostCapacity({ memoryMib: 1024, cpus: 2 }, { memoryMib: 0, cpus: Number.NaN })).toThrow(/cpuReserve/);
  });
});
