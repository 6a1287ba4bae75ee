// When a running VM may take another flavor live (CloudStack's dynamic scaling), as a pure check:
// the setting on, the domain defined with headroom (vm/scale-headroom.ts), the same GPUs (a GPU
// change needs a stop, as in CloudStack), and the new size within the headroom.
//
// Scaling down: vCPUs never (unplugging one needs the guest to give it up, which a guest may refuse
// or take its time over while libvirt waits; CloudStack refuses any scale-down of a running VM);
// memory down to the size the domain booted with (the balloon takes pages back only as the guest
// can free them, without the OOM killer: a guest that booted with that much can run with it).
import { ConflictError } from "#shared/errors.js";

export interface LiveSize { vcpus: number; memoryMib: number; gpuShape: string }

export interface LiveResizeCheck {
  vmId: number;
  enabled: boolean;
  headroom: { maxVcpus: number; maxMemoryMib: number; minMemoryMib: number };
  from: LiveSize;
  to: LiveSize & { flavorName: string };
}

const STOP_FIRST = "stop it to resize it (a stopped VM takes any flavor that fits its host)";

/** The 409 that refuses the live resize, or undefined when it is allowed. */
export function liveResizeRefusal(c: LiveResizeCheck): ConflictError | undefined {
  const vm = `virtual machine ${c.vmId}`;
  const refuse = (why: string, rule: string, details: Record<string, unknown> = {}) =>
    new ConflictError(`${vm} is running: ${why}; ${STOP_FIRST}`, "Running", { rule, flavor_name: c.to.flavorName, ...details });
  if (c.from.gpuShape !== c.to.gpuShape) {
    return refuse(`flavor "${c.to.flavorName}" has other GPUs, and GPUs change only while the VM is stopped (a GPU cannot be hot-plugged)`, "gpu_change");
  }
  if (!c.enabled) return refuse("dynamic scaling is off (setting enable.dynamic.scale.vm is false)", "dynamic_scaling_disabled");
  const h = c.headroom;
  if (h.maxVcpus === 0) {
    return refuse("its domain was defined without headroom for live scaling (started while enable.dynamic.scale.vm was false, or its CPUs are pinned); a stop and start defines it with headroom", "no_headroom");
  }
  if (c.to.vcpus < c.from.vcpus) {
    return refuse(`vCPUs cannot be removed live (${c.from.vcpus} → ${c.to.vcpus}): unplugging a vCPU needs the guest's cooperation`, "vcpu_scale_down");
  }
  if (c.to.vcpus > h.maxVcpus) {
    return refuse(`flavor "${c.to.flavorName}" has ${c.to.vcpus} vCPUs, more than the ${h.maxVcpus} its domain was defined to grow to`, "vcpu_headroom", { max_vcpus: h.maxVcpus });
  }
  if (c.to.memoryMib > h.maxMemoryMib) {
    return refuse(`flavor "${c.to.flavorName}" has ${c.to.memoryMib} MiB of memory, more than the ${h.maxMemoryMib} MiB its domain was defined to grow to`, "memory_headroom", { max_memory_mib: h.maxMemoryMib });
  }
  if (c.to.memoryMib < h.minMemoryMib) {
    return refuse(`flavor "${c.to.flavorName}" has ${c.to.memoryMib} MiB of memory, less than the ${h.minMemoryMib} MiB it booted with (the floor of a live memory decrease)`, "memory_floor", { min_memory_mib: h.minMemoryMib });
  }
  return undefined;
}
