// The headroom a domain is defined with for live scaling: twice the flavor within the host, none
// when dynamic scaling is off or CPUs are pinned, vCPUs only for a GPU VM (VFIO pins all its RAM).
import { describe, expect, it } from "vitest";
import { VmSpec } from "#shared/protocol.js";
import { NO_HEADROOM, scaleHeadroom, withHeadroom, type HeadroomInput } from "./scale-headroom.js";

const input = (over: Partial<HeadroomInput> = {}): HeadroomInput => ({
  enabled: true, vcpus: 2, memoryMib: 4096, pinned: false, hasGpu: false, hostCpus: 64, hostMemoryMib: 262_144, ...over,
});

describe("scaleHeadroom", () => {
  it("is twice the flavor on a host that has it; the boot memory is the floor", () => {
    expect(scaleHeadroom(input())).toEqual({ maxVcpus: 4, maxMemoryMib: 8192, minMemoryMib: 4096 });
  });

  it("never exceeds the host's CPUs or memory, and never falls below the flavor", () => {
    expect(scaleHeadroom(input({ vcpus: 1, memoryMib: 128, hostCpus: 2 }))).toMatchObject({ maxVcpus: 2, maxMemoryMib: 256 });
    expect(scaleHeadroom(input({ vcpus: 3, hostCpus: 4, memoryMib: 6000, hostMemoryMib: 8000 }))).toMatchObject({ maxVcpus: 4, maxMemoryMib: 8000 });
    // A VM as big as its host (or bigger: a host that shrank) keeps its own size as the maximum.
    expect(scaleHeadroom(input({ vcpus: 8, hostCpus: 4, memoryMib: 9000, hostMemoryMib: 8000 }))).toMatchObject({ maxVcpus: 8, maxMemoryMib: 9000 });
  });

  it("is none when dynamic scaling is off or the VM's CPUs are pinned", () => {
    expect(scaleHeadroom(input({ enabled: false }))).toEqual(NO_HEADROOM);
    expect(scaleHeadroom(input({ pinned: true }))).toEqual(NO_HEADROOM);
  });

  it("gives a GPU VM vCPU headroom only", () => {
    expect(scaleHeadroom(input({ hasGpu: true }))).toEqual({ maxVcpus: 4, maxMemoryMib: 4096, minMemoryMib: 4096 });
  });
});

describe("withHeadroom", () => {
  const spec = VmSpec.fromPartial({ vmUuid: "u", vcpus: 2, maxVcpus: 2, memoryMib: 4096, maxMemoryMib: 4096, topology: { sockets: 1, cores: 2, threads: 1 } });

  it("sets the maxima and a topology of the maximum vCPUs (libvirt counts sockets x cores x threads against it)", () => {
    const s = withHeadroom(spec, { maxVcpus: 4, maxMemoryMib: 8192, minMemoryMib: 4096 });
    expect(s).toMatchObject({ vcpus: 2, maxVcpus: 4, memoryMib: 4096, maxMemoryMib: 8192, topology: { sockets: 1, cores: 4, threads: 1 } });
  });

  it("leaves a spec without headroom as it was", () => {
    expect(withHeadroom(spec, NO_HEADROOM)).toBe(spec);
  });
});
