// `orbit-agent` as production runs it (agent/src/main.ts: its config file, its wiring, its
// process), with the one change the real-libvirt tier makes everywhere (libvirt-test-host.ts):
// VMs boot on the test guest's kernel and initrd, which has no boot loader. The multi-host tests
// start it as a child process inside a host's network namespace, so it can be SIGKILLed and cut
// off like a real host's agent. Compiled for the tests (test/support/orbit-programs.ts); run with
// ORBIT_TEST_GUEST_KERNEL/_INITRD.
import type { DomainStatus, VmSpec } from "#shared/protocol.js";
import { LibvirtHypervisor } from "../../agent/src/drivers/libvirt/libvirt-hypervisor.js";
import { kernelBoot } from "./test-guest.js";

const kernel = process.env.ORBIT_TEST_GUEST_KERNEL;
const initrd = process.env.ORBIT_TEST_GUEST_INITRD;
if (!kernel || !initrd) throw new Error("ORBIT_TEST_GUEST_KERNEL and ORBIT_TEST_GUEST_INITRD must name the test guest's kernel and initrd");

// Before main.ts builds its driver: every LibvirtHypervisor of this process boots the guest.
const startVm = LibvirtHypervisor.prototype.startVm;
LibvirtHypervisor.prototype.startVm = function (this: LibvirtHypervisor, spec: VmSpec): Promise<DomainStatus> {
  return startVm.call(this, { ...spec, directBoot: kernelBoot(spec, { kernel, initrd }) });
};

await import("../../agent/src/main.js");
