import { describe, expect, it } from "vitest";
import { simulatedGpus, simulatedGpuUuid } from "./simulated-gpus.js";

const H100 = { model: "NVIDIA H100 80GB HBM3", memoryMib: 81559, count: 8 };
const A = "5e1a0000-0000-4000-8000-00000000000a";
const B = "5e1a0000-0000-4000-8000-00000000000b";

describe("simulated GPU UUIDs", () => {
  it("differ across hosts with the same board (same PCI addresses) and within a host", () => {
    const a = simulatedGpus(A, [H100, { model: "NVIDIA L40S", memoryMib: 46068, count: 2 }], 2);
    const b = simulatedGpus(B, [H100, { model: "NVIDIA L40S", memoryMib: 46068, count: 2 }], 2);
    expect(a.map((g) => g.pciAddress)).toEqual(b.map((g) => g.pciAddress));
    const all = [...a, ...b].map((g) => g.uuid);
    expect(new Set(all).size).toBe(20);
  });

  it("are stable: the same host UUID gives the same UUIDs on every start, whatever its case", () => {
    expect(simulatedGpus(A, [H100]).map((g) => g.uuid)).toEqual(simulatedGpus(A.toUpperCase(), [H100]).map((g) => g.uuid));
    expect(simulatedGpuUuid(A, 3)).toBe(simulatedGpus(A, [H100])[3]!.uuid);
  });

  it("look like nvidia-smi's (GPU- and a UUID)", () => {
    for (const g of simulatedGpus(A, [H100])) expect(g.uuid).toMatch(/^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });
});
