// The driver against libvirt's built-in test driver (test:///default): no daemon, every virsh
// process gets a fresh copy of the default host (one running domain "test"). State does not
// survive between calls, so lifecycle sequences run inside one virsh session.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { ConflictError, InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import { DiskSpec, PowerState, VmSpec } from "#shared/protocol.js";
import { buildDomainXml, domainNameFor } from "./domain-xml.js";
import { LibvirtHypervisor } from "./libvirt-hypervisor.js";
import { parseOrbitMetadata } from "./orbit-metadata.js";
import { parseProcMeminfo } from "../../inventory/proc-meminfo.parser.js";
import { toolMissing } from "./tool-availability.js";
import { Virsh } from "./virsh.js";
import { VirshError } from "./virsh-error.js";

const skip = toolMissing("virsh") && !process.env.CI;

describe.skipIf(skip)(`LibvirtHypervisor on test:///default${skip ? " (skipped: virsh not installed)" : ""}`, () => {
  const dir = mkdtempSync(join(tmpdir(), "orbit-test-driver-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const hv = new LibvirtHypervisor({ uri: "test:///default", domainType: "qemu", instancesDir: dir, hostname: "node-1" });
  const virsh = new Virsh({ uri: "test:///default" });

  it("refuses at construction a configuration QEMU cannot run", () => {
    const base = { uri: "test:///default", instancesDir: dir };
    expect(() => new LibvirtHypervisor({ ...base, domainType: "qemu", xml: { cpu: { mode: "host-passthrough" } } })).toThrow(InvalidArgumentError);
    expect(() => new LibvirtHypervisor({ ...base, domainType: "kvm", xml: { cdromBus: "virtio" as "scsi" } })).toThrow(/cdrom bus virtio/);
    expect(() => new LibvirtHypervisor({ ...base, domainType: "kvm", xml: { cpu: { mode: "host-passthrough" }, cdromBus: "sata" } })).not.toThrow();
  });

  it("reads host facts from nodeinfo and capabilities", async () => {
    const f = await hv.hostFacts();
    expect(f).toMatchObject({
      hostname: "node-1", hypervisor: "qemu", driver: "libvirt", cpuArch: "i686",
      // the test host: 2 NUMA cells x 2 sockets x 2 cores x 2 threads
      cpus: 16, sockets: 4, coresPerSocket: 2, threadsPerCore: 2, cpuMhz: 1400, memoryMib: 3072, hypervisorVersion: expect.stringMatching(/^TEST 0\.0\.2, libvirt \d+\.\d+\.\d+$/),
    });
    expect(f.numaCells).toEqual([
      { id: 0, cpus: [0, 1, 2, 3, 4, 5, 6, 7], memoryMib: 2048 },
      { id: 1, cpus: [8, 9, 10, 11, 12, 13, 14, 15], memoryMib: 4096 },
    ]);
  });

  it("falls back to /proc/meminfo for free memory when the driver has no node memory stats", async () => {
    const free = await hv.freeMemoryMib();
    const total = Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync("/proc/meminfo", "utf8"))![1]) / 1024;
    expect(free).toBeGreaterThan(0);
    expect(free).toBeLessThanOrEqual(total);
    expect(Math.abs(free - parseProcMeminfo(readFileSync("/proc/meminfo", "utf8")).memAvailableMib)).toBeLessThan(total / 2);
  });

  it("lists the test host's domain as unmanaged, with state and reason", async () => {
    expect(await hv.listDomains()).toEqual([
      { vmUuid: "6695eb01-f6a4-8304-79aa-97f2502e193f", name: "test", powerState: PowerState.POWER_STATE_RUNNING, reason: "unknown", managed: false },
    ]);
  });

  it("maps real virsh errors to typed errors", async () => {
    const missing = await hv.status("00000000-0000-4000-8000-000000000000").catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(VirshError);
    expect(missing).toMatchObject({ kind: "no_domain", code: "hypervisor_error" });
    await expect(virsh.run(["start", "test"])).rejects.toMatchObject({ kind: "already_running" });
    await expect(virsh.run(["destroy test; destroy test"])).rejects.toMatchObject({ kind: "not_running" });
    await expect(virsh.run(["destroy test; shutdown test"])).rejects.toMatchObject({ kind: "not_running" });
    const bad = new Virsh({ uri: "qemu+unix:///system?socket=/nonexistent/orbit.sock" });
    await expect(bad.run(["list"])).rejects.toMatchObject({ kind: "connection", retryable: true });
  });

  it("has libvirt accept a generated domain: define, start, hot-plug, balloon, suspend, destroy, undefine in one session", async () => {
    const spec = VmSpec.fromPartial({
      vmUuid: "5b0c6a8e-2d4f-4a1b-9c3e-7f6d5e4c3b2a", name: "seq", vcpus: 1, maxVcpus: 2, memoryMib: 128, numaNode: -1,
      labels: { k: "v" },
      directBoot: { kernel: "/boot/vmlinuz", initrd: "", cmdline: "console=ttyS0" },
      disks: [{ id: "root", device: "disk", sourcePath: join(dir, "root.qcow2"), format: "qcow2", bus: "virtio", owned: true }],
      nics: [{ mac: "52:54:00:0a:0b:0c", bridge: "orb-3", model: "virtio", ipAddress: "10.128.0.2", prefixLength: 24, gateway: "10.128.0.1" }],
    });
    const file = join(dir, "seq.xml");
    writeFileSync(file, buildDomainXml(spec, { domainType: "qemu" }, { serialLog: join(dir, "serial.log"), ownedFiles: [join(dir, "root.qcow2")], instanceDir: dir }));
    const name = domainNameFor(spec);
    // (managedsave is left to the real-libvirtd tier: on the test driver it sometimes hangs.)
    const out = await virsh.run([
      [`define ${file}`, `start ${spec.vmUuid}`, `domstate ${name} --reason`, `setvcpus ${name} 2 --live`, `setmem ${name} 100000 --live`,
        `suspend ${name}`, `domstate ${name} --reason`, `resume ${name}`, `dumpxml ${name}`, `destroy ${name}`, `domstate ${name} --reason`,
        `undefine ${name}`, "list --all --name"].join("; "),
    ]);
    expect(out).toContain("running (booted)");
    expect(out).toContain("paused (user)");
    expect(out).toContain("shut off (destroyed)");
    expect(out).toMatch(/<vcpu placement='static'>2<\/vcpu>/);
    expect(out).toMatch(/<currentMemory unit='KiB'>100000<\/currentMemory>/);
    expect(out).toMatch(/<interface type='bridge'>\s*<mac address='52:54:00:0a:0b:0c'\/>\s*<source bridge='orb-3'\/>[\s\S]*?<model type='virtio'\/>\s*<\/interface>/);
    expect(parseOrbitMetadata(out)).toEqual({ vmUuid: spec.vmUuid, name: "seq", labels: { k: "v" }, ownedFiles: [join(dir, "root.qcow2")], instanceDir: dir });
    expect(out.trimEnd().split("\n").at(-1)).toBe("test");
  });

  it("makes sure each NIC's bridge (with its network's gateway) exists before it defines the domain, and defines nothing when it cannot", async () => {
    const ensured: unknown[] = [];
    const noBridges = new LibvirtHypervisor({
      uri: "test:///default", domainType: "qemu", instancesDir: dir, hostname: "node-1",
      ensureBridge: async (name, gateway) => { ensured.push([name, gateway]); throw new Error(`cannot create bridge ${name}: Operation not permitted`); },
    });
    const nic = { mac: "52:54:00:0a:0b:0d", bridge: "orb-4", model: "virtio", ipAddress: "10.128.1.2", prefixLength: 24, gateway: "10.128.1.1" };
    const spec = VmSpec.fromPartial({
      vmUuid: "6c1d7b9f-3e5a-4b2c-8d4f-8a7e6f5d4c3b", name: "bridged", vcpus: 1, memoryMib: 128, numaNode: -1,
      directBoot: { kernel: "/boot/vmlinuz", initrd: "", cmdline: "" }, nics: [nic, { ...nic, mac: "52:54:00:0a:0b:0e" }],
    });
    await expect(noBridges.startVm(spec)).rejects.toThrow(/cannot create bridge orb-4/);
    expect(ensured).toEqual([["orb-4", { address: "10.128.1.1", prefixLength: 24 }]]);
    expect(await noBridges.listDomains()).toHaveLength(1); // only the test driver's own domain
  });

  describe.skipIf(toolMissing("qemu-img"))("owned disks of a VM that does not run (qemu-img)", () => {
    const qemuImg = (args: string[]) => execFileSync("qemu-img", args, { encoding: "utf8" });
    const info = (path: string) => JSON.parse(qemuImg(["info", "--output=json", "-U", path])) as { format: string; "backing-filename"?: string; "virtual-size": number };
    const root = (extra: Partial<DiskSpec> = {}): DiskSpec => DiskSpec.fromPartial({ id: "root", device: "disk", format: "qcow2", bus: "virtio", owned: true, ...extra });
    const base = join(dir, "base.qcow2");
    const source = "11111111-2222-4333-8444-555555555555";
    const clone = "66666666-7777-4888-9999-aaaaaaaaaaaa";

    it("creates an overlay on the image, and with replace discards the disk there for a fresh one", async () => {
      qemuImg(["create", "-q", "-f", "qcow2", base, "64M"]);
      await hv.prepareOwnedDisk(source, root({ backingPath: base }), { replace: false });
      const disk = join(dir, source, "root.qcow2");
      expect(info(disk)["backing-filename"]).toBe(base);
      // Something written to the disk (a guest's data) goes with a replace.
      qemuImg(["resize", "-q", disk, "128M"]);
      await hv.prepareOwnedDisk(source, root({ backingPath: base }), { replace: false });
      expect(info(disk)["virtual-size"]).toBe(128 * 1024 * 1024);
      await hv.prepareOwnedDisk(source, root({ backingPath: base }), { replace: true });
      expect(info(disk)["virtual-size"]).toBe(64 * 1024 * 1024);
      expect(info(disk)["backing-filename"]).toBe(base);
    });

    it("copies another VM's disk in full (no backing file), and refuses a source that has none or runs", async () => {
      await hv.prepareOwnedDisk(clone, root({ backingPath: base, copyFromVmUuid: source }), { replace: false });
      const copy = info(join(dir, clone, "root.qcow2"));
      expect(copy["backing-filename"]).toBeUndefined();
      expect(copy["virtual-size"]).toBe(64 * 1024 * 1024);
      await expect(hv.prepareOwnedDisk(clone, root({ id: "data", copyFromVmUuid: source }), { replace: false })).rejects.toBeInstanceOf(NotFoundError);
      // The test host's domain "test" runs.
      await expect(hv.prepareOwnedDisk(clone, root({ copyFromVmUuid: "6695eb01-f6a4-8304-79aa-97f2502e193f" }), { replace: true }))
        .rejects.toBeInstanceOf(ConflictError);
      expect(info(join(dir, clone, "root.qcow2"))["backing-filename"]).toBeUndefined();
    });

    it("makes a bootable volume's missing file as an overlay of its image when a VM starts from it, not as the VM's own file", async () => {
      const vmUuid = "77777777-8888-4999-8aaa-bbbbbbbbbbbb";
      const volume = join(dir, "volumes", "boot-vol.qcow2");
      const spec = VmSpec.fromPartial({
        vmUuid, name: "from-volume", vcpus: 1, memoryMib: 128, numaNode: -1, directBoot: { kernel: "/boot/vmlinuz", initrd: "", cmdline: "" },
        disks: [{ id: "volume-1", device: "disk", sourcePath: volume, format: "qcow2", bus: "virtio", owned: false, backingPath: base, sizeGib: 1 }],
      });
      // The test driver forgets the definition before the start (each virsh its own host): only the define matters here.
      await hv.startVm(spec).catch(() => undefined);
      expect(info(volume)).toMatchObject({ "backing-filename": base, "virtual-size": 1024 ** 3 });
      const defined = readFileSync(join(dir, vmUuid, "domain.xml"), "utf8");
      expect(defined).toContain(`<source file="${volume}"`);
      expect(parseOrbitMetadata(defined)?.ownedFiles).toEqual([]);
      // Its data is kept: a second start does not make it again.
      qemuImg(["resize", "-q", volume, "2G"]);
      await hv.startVm(spec).catch(() => undefined);
      expect(info(volume)["virtual-size"]).toBe(2 * 1024 ** 3);
    });

    it("refuses to replace the disk of a running VM", async () => {
      await expect(hv.prepareOwnedDisk("6695eb01-f6a4-8304-79aa-97f2502e193f", root({ backingPath: base }), { replace: true }))
        .rejects.toThrow(/cannot be replaced while it runs/);
    });
  });

  it.skipIf(toolMissing("qemu-img"))("fetches a missing backing image from the manager once, before the overlay is made on it", async () => {
    const imagesDir = join(dir, "images");
    const fetched: [string, string][] = [];
    const nic = { mac: "52:54:00:0a:0b:0f", bridge: "orb-5", model: "virtio", ipAddress: "10.128.1.3", prefixLength: 24, gateway: "10.128.1.1" };
    const spec = (uuid: string) => VmSpec.fromPartial({
      vmUuid: uuid, name: "fetched", vcpus: 1, memoryMib: 128, numaNode: -1, nics: [nic],
      disks: [{ id: "root", device: "disk", sourcePath: "", format: "qcow2", sizeGib: 0, bus: "virtio", owned: true, backingPath: "image-7.qcow2" }],
    });
    const hv2 = new LibvirtHypervisor({
      uri: "test:///default", domainType: "qemu", instancesDir: dir, imagesDir, hostname: "node-1",
      // Stops the deploy right after the disks are made (the test driver keeps no domain anyway).
      ensureBridge: async () => { throw new Error("stop here"); },
      fetchImage: async (path, dest) => {
        fetched.push([path, dest]);
        await execa("qemu-img", ["create", "-q", "-f", "qcow2", dest, "16M"]);
      },
    });
    const first = "7c1d7b9f-3e5a-4b2c-8d4f-8a7e6f5d4c01";
    await expect(hv2.startVm(spec(first))).rejects.toThrow(/stop here/);
    expect(fetched).toEqual([["image-7.qcow2", join(imagesDir, "image-7.qcow2")]]);
    const overlay = JSON.parse((await execa("qemu-img", ["info", "--output=json", "-U", join(dir, first, "root.qcow2")])).stdout) as { "backing-filename": string };
    expect(overlay["backing-filename"]).toBe(join(imagesDir, "image-7.qcow2"));
    // Present now: not fetched again.
    await expect(hv2.startVm(spec("7c1d7b9f-3e5a-4b2c-8d4f-8a7e6f5d4c02"))).rejects.toThrow(/stop here/);
    expect(fetched).toHaveLength(1);

    const failing = new LibvirtHypervisor({
      uri: "test:///default", domainType: "qemu", instancesDir: dir, imagesDir, hostname: "node-1", ensureBridge: async () => {},
      fetchImage: async (path) => { throw new Error(`image ${path} could not be fetched from the manager: not found`); },
    });
    await expect(failing.startVm(VmSpec.fromPartial({ ...spec("7c1d7b9f-3e5a-4b2c-8d4f-8a7e6f5d4c03"), disks: [{ ...spec("x").disks[0]!, backingPath: "image-8.qcow2" }] })))
      .rejects.toThrow(/image-8.qcow2 could not be fetched/);

    // A bootable volume first used as a boot disk, and a volume attached with its image: their overlays need the image too.
    await expect(hv2.startVm(VmSpec.fromPartial({
      ...spec("7c1d7b9f-3e5a-4b2c-8d4f-8a7e6f5d4c04"),
      disks: [{ id: "vol-1", device: "disk", sourcePath: "volumes/vol-1.qcow2", format: "qcow2", sizeGib: 0, bus: "virtio", owned: false, backingPath: "image-9.qcow2" }],
    }))).rejects.toThrow(/stop here/);
    expect(fetched.at(-1)).toEqual(["image-9.qcow2", join(imagesDir, "image-9.qcow2")]);
    const bootVolume = JSON.parse((await execa("qemu-img", ["info", "--output=json", "-U", join(imagesDir, "volumes", "vol-1.qcow2")])).stdout) as { "backing-filename": string };
    expect(bootVolume["backing-filename"]).toBe(join(imagesDir, "image-9.qcow2"));
    // (The test driver's one domain, "test", takes the attach or refuses it: the volume is made either way.)
    await hv2.attachDisk("test", { sourcePath: "volumes/vol-2.qcow2", createSizeGib: 1, backingPath: "image-10.qcow2" }).catch(() => undefined);
    expect(fetched.at(-1)).toEqual(["image-10.qcow2", join(imagesDir, "image-10.qcow2")]);
    const attached = JSON.parse((await execa("qemu-img", ["info", "--output=json", "-U", join(imagesDir, "volumes", "vol-2.qcow2")])).stdout) as { "backing-filename": string };
    expect(attached["backing-filename"]).toBe(join(imagesDir, "image-10.qcow2"));
  });
});
