// The driver defines a VM's domain under the name the manager chose (VmSpec.domain_name, setting
// vm.instancename.flag), renaming a defined domain whose name differs (a renamed VM, a changed
// setting), and under its own form when the manager sends none. virsh is stubbed: the calls are
// what is checked (the real-libvirtd tier renames real domains).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { VmSpec } from "#shared/protocol.js";
import { LibvirtHypervisor } from "./libvirt-hypervisor.js";

const UUID = "3f2b8c1e-9a4d-4e2f-8b1a-0c9d8e7f6a5b";
const dir = mkdtempSync(join(tmpdir(), "orbit-domain-name-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The driver with virsh answering `domname` with `current` (undefined: no such domain yet). */
function driver(current: string | undefined) {
  const hv = new LibvirtHypervisor({ uri: "test:///default", domainType: "qemu", instancesDir: dir, hostname: "node-1", ensureBridge: async () => {} });
  const calls: string[][] = [];
  (hv.virsh as { run: (args: string[]) => Promise<string> }).run = async (args) => {
    calls.push(args);
    if (args[0] === "domname") {
      if (current === undefined) throw new Error("error: failed to get domain");
      return `${current}\n`;
    }
    return "";
  };
  const define = (spec: VmSpec) => (hv as unknown as { define(s: VmSpec): Promise<void> }).define(spec);
  return { calls, define };
}

const spec = (domainName: string) => VmSpec.fromPartial({
  vmUuid: UUID, name: "web-1", vcpus: 1, memoryMib: 128, numaNode: -1, domainName,
  directBoot: { kernel: "/boot/vmlinuz", initrd: "", cmdline: "" },
});
const definedName = () => /<name>([^<]*)<\/name>/.exec(readFileSync(join(dir, UUID, "domain.xml"), "utf8"))?.[1];

describe("the domain's name", () => {
  beforeEach(() => rmSync(join(dir, UUID), { recursive: true, force: true }));

  it("is the manager's domain_name when it sends one: a new domain is defined under it", async () => {
    const { calls, define } = driver(undefined);
    await define(spec("orbit-7-3f2b8c1e"));
    expect(definedName()).toBe("orbit-7-3f2b8c1e");
    expect(calls.map((c) => c[0])).toEqual(["domname", "define"]);
  });

  it("renames a defined domain whose name differs (flag changed, or the VM renamed), then redefines it", async () => {
    const { calls, define } = driver("orbit-3f2b8c1e-web-1");
    await define(spec("orbit-7-3f2b8c1e"));
    expect(calls.filter((c) => c[0] !== "domname")).toEqual([["domrename", UUID, "orbit-7-3f2b8c1e"], ["define", join(dir, UUID, "domain.xml")]]);
    expect(definedName()).toBe("orbit-7-3f2b8c1e");
  });

  it("keeps a name that already matches (no rename)", async () => {
    const { calls, define } = driver("orbit-7-3f2b8c1e");
    await define(spec("orbit-7-3f2b8c1e"));
    expect(calls.some((c) => c[0] === "domrename")).toBe(false);
  });

  it("is its own form, with the VM's name, from a manager that sends none", async () => {
    const { calls, define } = driver("orbit-7-3f2b8c1e");
    await define(spec(""));
    expect(calls.find((c) => c[0] === "domrename")).toEqual(["domrename", UUID, "orbit-3f2b8c1e-web-1"]);
    expect(definedName()).toBe("orbit-3f2b8c1e-web-1");
  });
});
