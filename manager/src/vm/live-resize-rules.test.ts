// Which live resizes are refused, each with a 409 naming the rule and saying what to do.
import { describe, expect, it } from "vitest";
import { liveResizeRefusal, type LiveResizeCheck } from "./live-resize-rules.js";

const check = (to: Partial<LiveResizeCheck["to"]>, over: Partial<Omit<LiveResizeCheck, "to">> = {}): LiveResizeCheck => ({
  vmId: 7, enabled: true,
  headroom: { maxVcpus: 4, maxMemoryMib: 8192, minMemoryMib: 4096 },
  from: { vcpus: 2, memoryMib: 4096, gpuShape: "0/0//" },
  to: { vcpus: 4, memoryMib: 8192, gpuShape: "0/0//", flavorName: "big", ...to },
  ...over,
});
const rule = (c: LiveResizeCheck) => liveResizeRefusal(c)?.details.rule;

describe("liveResizeRefusal", () => {
  it("allows growing within the headroom, and memory back down to the boot size", () => {
    expect(liveResizeRefusal(check({}))).toBeUndefined();
    expect(liveResizeRefusal(check({ vcpus: 3, memoryMib: 4096 }, { from: { vcpus: 2, memoryMib: 8192, gpuShape: "0/0//" } }))).toBeUndefined();
  });

  it("refuses a GPU change first (CloudStack: GPUs change only while stopped), whatever else", () => {
    const e = liveResizeRefusal(check({ gpuShape: "1/0//H100" }, { enabled: false }));
    expect(e).toMatchObject({ code: "conflict", details: { rule: "gpu_change", state: "Running", flavor_name: "big" } });
    expect(e!.message).toMatch(/virtual machine 7 is running: flavor "big" has other GPUs, and GPUs change only while the VM is stopped.*stop it to resize it/);
  });

  it("refuses when dynamic scaling is off, or the domain was defined without headroom", () => {
    expect(rule(check({}, { enabled: false }))).toBe("dynamic_scaling_disabled");
    expect(liveResizeRefusal(check({}, { enabled: false }))!.message).toMatch(/enable\.dynamic\.scale\.vm is false/);
    expect(rule(check({}, { headroom: { maxVcpus: 0, maxMemoryMib: 0, minMemoryMib: 0 } }))).toBe("no_headroom");
  });

  it("refuses removing vCPUs, going past either maximum, or memory below the boot size", () => {
    expect(rule(check({ vcpus: 1 }))).toBe("vcpu_scale_down");
    expect(liveResizeRefusal(check({ vcpus: 5 }))).toMatchObject({ details: { rule: "vcpu_headroom", max_vcpus: 4 } });
    expect(liveResizeRefusal(check({ memoryMib: 8193 }))).toMatchObject({ details: { rule: "memory_headroom", max_memory_mib: 8192 } });
    expect(liveResizeRefusal(check({ memoryMib: 2048 }))).toMatchObject({ details: { rule: "memory_floor", min_memory_mib: 4096 } });
  });
});
