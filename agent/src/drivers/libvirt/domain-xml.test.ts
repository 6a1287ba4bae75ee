import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { XMLParser } from "fast-xml-parser";
import { afterAll, describe, expect, it } from "vitest";
import { InvalidArgumentError, UnsupportedError } from "#shared/errors.js";
import { type DeepPartial, VmSpec } from "#shared/protocol.js";
import { buildDomainXml, buildScsiControllerXml, diskLetters, domainNameFor, type DomainPaths, type DomainXmlOptions, ISO_SLOT_ALIAS, parsePciAddress } from "./domain-xml.js";
import { parseOrbitMetadata } from "./orbit-metadata.js";
import { toolMissing } from "./tool-availability.js";
import { vmTapName } from "../../network/tap-name.js";

const UUID = "3f2b8c1e-9a4d-4e2f-8b1a-0c9d8e7f6a5b";
const base = (over: DeepPartial<VmSpec> = {}): VmSpec =>
  VmSpec.fromPartial({
    vmUuid: UUID,
    name: "web-1",
    vcpus: 2,
    memoryMib: 1024,
    numaNode: -1,
    disks: [{ id: "root", device: "disk", sourcePath: "/var/lib/orbit/i/root.qcow2", format: "qcow2", bus: "virtio", owned: true, backingPath: "/img/debian.qcow2" }],
    ...over,
  });
const tcg: DomainXmlOptions = { domainType: "qemu", emulator: "/usr/bin/qemu-system-x86_64" };
const kvm: DomainXmlOptions = { domainType: "kvm" };
const paths: DomainPaths = { serialLog: "/var/lib/orbit/i/serial.log", nvram: "/var/lib/orbit/i/nvram.fd", instanceDir: "/var/lib/orbit/i" };

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@_", parseAttributeValue: false, parseTagValue: false });
type Node = Record<string, unknown>;
const parse = (xml: string): Node => (parser.parse(xml) as { domain: Node }).domain;
const list = (v: unknown): Node[] => (v === undefined ? [] : Array.isArray(v) ? (v as Node[]) : [v as Node]);
const devices = (d: Node): Node => d.devices as Node;

// Every document a test builds is collected and validated against libvirt's RNG schema at the end.
const generated: { label: string; xml: string }[] = [];
const build = (label: string, spec: VmSpec, opts: DomainXmlOptions = tcg, p: DomainPaths = paths): Node => {
  const xml = buildDomainXml(spec, opts, p);
  generated.push({ label, xml });
  return parse(xml);
};

describe("buildDomainXml", () => {
  it("names the domain after the uuid prefix and the VM name, and carries Orbit metadata", () => {
    const xml = buildDomainXml(base({ labels: { team: "a&b", env: "prod" } }), tcg, { ...paths, ownedFiles: ["/x/root.qcow2", "/x/seed.iso"] });
    generated.push({ label: "metadata", xml });
    const d = parse(xml);
    expect(d.name).toBe("orbit-3f2b8c1e-web-1");
    expect(d.uuid).toBe(UUID);
    expect(d["@_type"]).toBe("qemu");
    const meta = parseOrbitMetadata(xml);
    expect(meta).toEqual({ vmUuid: UUID, name: "web-1", labels: { team: "a&b", env: "prod" }, ownedFiles: ["/x/root.qcow2", "/x/seed.iso"], instanceDir: "/var/lib/orbit/i" });
  });

  it("sanitises odd VM names in the domain name", () => {
    expect(domainNameFor({ vmUuid: UUID, name: "my vm/<1>" })).toBe("orbit-3f2b8c1e-my-vm-1");
    expect(domainNameFor({ vmUuid: UUID, name: "///" })).toBe("orbit-3f2b8c1e");
  });

  it("names the domain as the manager chose (domain_name), else (an older manager) with the VM's name", () => {
    const nameOf = (spec: VmSpec) => String((parser.parse(buildDomainXml(spec, tcg, paths)) as { domain: Node }).domain.name);
    expect(nameOf(base({ domainName: "orbit-7-3f2b8c1e" }))).toBe("orbit-7-3f2b8c1e");
    expect(nameOf(base({ domainName: "" }))).toBe("orbit-3f2b8c1e-web-1");
    expect(nameOf(base())).toBe("orbit-3f2b8c1e-web-1");
    // It becomes a virsh argument too: nothing that reads as an option or leaves the name's alphabet.
    for (const bad of ["-orbit", ".x", "a b", "a/b", "x".repeat(65)]) {
      expect(() => domainNameFor({ vmUuid: UUID, name: "web-1", domainName: bad })).toThrow(InvalidArgumentError);
    }
  });

  it("uses qemu64 under TCG and host-passthrough on KVM, with the topology matching max vCPUs", () => {
    const t = build("tcg", base({ vcpus: 2, maxVcpus: 8, topology: { sockets: 2, cores: 2, threads: 2 } }));
    const tc = t.cpu as Node;
    expect(tc["@_mode"]).toBe("custom");
    expect((tc.model as Node)["#text"]).toBe("qemu64");
    expect(tc.topology).toMatchObject({ "@_sockets": "2", "@_cores": "2", "@_threads": "2" });
    expect(t.vcpu).toMatchObject({ "@_current": "2", "#text": "8" });
    const k = build("kvm", base({ vcpus: 4 }), kvm);
    expect(k["@_type"]).toBe("kvm");
    expect((k.cpu as Node)["@_mode"]).toBe("host-passthrough");
    expect((k.cpu as Node).topology).toMatchObject({ "@_sockets": "1", "@_cores": "4", "@_threads": "1" });
    const custom = build("custom-model", base(), { domainType: "qemu", cpu: { mode: "custom", model: "Skylake-Server" } });
    expect(((custom.cpu as Node).model as Node)["#text"]).toBe("Skylake-Server");
  });

  it("rejects a topology that does not multiply to the vCPU maximum, and host-passthrough under TCG", () => {
    expect(() => buildDomainXml(base({ vcpus: 2, maxVcpus: 6, topology: { sockets: 1, cores: 4, threads: 1 } }), tcg, paths)).toThrow(InvalidArgumentError);
    expect(() => buildDomainXml(base(), { domainType: "qemu", cpu: { mode: "host-passthrough" } }, paths)).toThrow(InvalidArgumentError);
  });

  it("sets memory as the balloon ceiling and currentMemory as the boot size, with a virtio balloon", () => {
    const d = build("balloon", base({ memoryMib: 512, maxMemoryMib: 2048 }));
    expect(d.memory).toMatchObject({ "@_unit": "MiB", "#text": "2048" });
    expect(d.currentMemory).toMatchObject({ "@_unit": "MiB", "#text": "512" });
    expect(devices(d).memballoon).toMatchObject({ "@_model": "virtio" });
  });

  it("boots UEFI by default, with Secure Boot and SMM when asked", () => {
    const plain = build("uefi", base());
    const os = plain.os as Node;
    expect(os.loader).toMatchObject({ "@_type": "pflash", "@_secure": "no", "#text": "/usr/share/OVMF/OVMF_CODE_4M.fd" });
    expect(os.nvram).toMatchObject({ "#text": paths.nvram });
    expect((plain.features as Node).smm).toBeUndefined();
    const fw = { loader: "/usr/share/OVMF/OVMF_CODE_4M.ms.fd", nvramTemplate: "/usr/share/OVMF/OVMF_VARS_4M.ms.fd", secureBoot: true };
    const sb = build("secure-boot", base(), { ...kvm, firmware: fw });
    expect((sb.os as Node).loader).toMatchObject({ "@_secure": "yes", "#text": fw.loader });
    expect((sb.features as Node).smm).toMatchObject({ "@_state": "on" });
    expect(() => buildDomainXml(base(), tcg, { serialLog: "/s" })).toThrow(InvalidArgumentError);
  });

  it("boots a kernel directly when directBoot is set (no firmware, no boot order)", () => {
    const d = build("direct", base({ directBoot: { kernel: "/k/vmlinuz", initrd: "/k/initrd.gz", cmdline: "console=ttyS0" } }), tcg, { serialLog: "/s.log" });
    const os = d.os as Node;
    expect(os.kernel).toBe("/k/vmlinuz");
    expect(os.initrd).toBe("/k/initrd.gz");
    expect(os.cmdline).toBe("console=ttyS0");
    expect(os.loader).toBeUndefined();
    expect(list(devices(d).disk)[0]!.boot).toBeUndefined();
  });

  it("lays out disks, cdroms and the seed with per-bus target names and a virtio-scsi controller", () => {
    const d = build(
      "disks",
      base({
        disks: [
          { id: "root", device: "disk", sourcePath: "/i/root.qcow2", format: "qcow2", bus: "virtio" },
          { id: "data", device: "disk", sourcePath: "/i/data.raw", format: "raw", bus: "virtio" },
          { id: "scratch", device: "disk", sourcePath: "/i/s.qcow2", format: "qcow2", bus: "scsi" },
          { id: "iso", device: "cdrom", sourcePath: "/isos/tools.iso", format: "", bus: "" },
          { id: "lvm", device: "disk", sourcePath: "/dev/vg0/lv1", format: "raw", bus: "virtio" },
        ],
      }),
      tcg,
      { ...paths, seedIso: "/i/seed.iso" },
    );
    const disks = list(devices(d).disk);
    expect(disks.map((x) => (x.target as Node)["@_dev"])).toEqual(["vda", "vdb", "sda", "sdb", "vdc", "sdc"]);
    expect(disks.map((x) => (x.target as Node)["@_bus"])).toEqual(["virtio", "virtio", "scsi", "scsi", "virtio", "scsi"]);
    expect(disks[1]!.driver).toMatchObject({ "@_type": "raw" });
    expect(disks[3]).toMatchObject({ "@_device": "cdrom", readonly: "" });
    expect(disks[4]).toMatchObject({ "@_type": "block", source: { "@_dev": "/dev/vg0/lv1" } });
    expect(disks[5]).toMatchObject({ "@_device": "cdrom", source: { "@_file": "/i/seed.iso" } });
    expect(disks[0]!.serial).toBe("root");
    expect(disks.slice(0, 5).map((x) => (x.boot as Node)["@_order"])).toEqual(["1", "2", "3", "4", "5"]);
    const ctrls = list(devices(d).controller);
    expect(ctrls.filter((c) => c["@_type"] === "scsi")).toEqual([{ "@_type": "scsi", "@_index": "0", "@_model": "virtio-scsi" }]);
    // The one a hot-attached SCSI disk brings along on a domain without it is the same controller.
    expect((parser.parse(buildScsiControllerXml()) as { controller: Node }).controller).toEqual({ "@_type": "scsi", "@_index": "0", "@_model": "virtio-scsi" });
    // 3 virtio disks + scsi controller + balloon + rng, plus 4 spare for hot-plug
    expect(ctrls.filter((c) => c["@_model"] === "pcie-root-port")).toHaveLength(10);
    expect(ctrls.filter((c) => c["@_type"] === "usb")).toEqual([{ "@_type": "usb", "@_model": "none" }]);
  });

  it("boots an install ISO listed first before the blank root disk; the seed cdrom never boots", () => {
    const d = build(
      "iso-install",
      base({
        disks: [
          { id: "iso", device: "cdrom", sourcePath: "/var/lib/orbit/images/image-7.iso", format: "raw", bus: "" },
          { id: "root", device: "disk", sourcePath: "/i/root.qcow2", format: "qcow2", bus: "virtio", owned: true, sizeGib: 20 },
        ],
      }),
      tcg,
      { ...paths, seedIso: "/i/seed.iso" },
    );
    const disks = list(devices(d).disk);
    expect(disks.map((x) => [x["@_device"], (x.source as Node)["@_file"], (x.boot as Node | undefined)?.["@_order"]])).toEqual([
      ["cdrom", "/var/lib/orbit/images/image-7.iso", "1"],
      ["disk", "/i/root.qcow2", "2"],
      ["cdrom", "/i/seed.iso", undefined],
    ]);
    expect(disks[0]).toMatchObject({ readonly: "", target: { "@_bus": "scsi" }, driver: { "@_type": "raw" } });
  });

  it("gives every domain an ISO cdrom slot apart from the seed: an empty tray after the disks when no ISO is in", () => {
    const d = build("iso-slot-empty", base(), tcg, { ...paths, seedIso: "/i/seed.iso" });
    const disks = list(devices(d).disk);
    expect(disks.map((x) => [x["@_device"], (x.target as Node)["@_dev"], (x.source as Node | undefined)?.["@_file"], (x.alias as Node | undefined)?.["@_name"], (x.boot as Node | undefined)?.["@_order"]])).toEqual([
      ["disk", "vda", "/var/lib/orbit/i/root.qcow2", undefined, "1"],
      ["cdrom", "sda", undefined, ISO_SLOT_ALIAS, "2"],
      ["cdrom", "sdb", "/i/seed.iso", undefined, undefined],
    ]);
    expect(disks[1]).toMatchObject({ readonly: "", target: { "@_bus": "scsi" }, driver: { "@_type": "raw" } });
    // The slot alone brings the virtio-scsi controller (no seed, no other scsi device).
    const alone = build("iso-slot-no-seed", base());
    expect(list(devices(alone).controller).filter((c) => c["@_type"] === "scsi")).toHaveLength(1);
    // An ISO in the spec is the slot itself: one ISO cdrom, with the alias, and no extra tray.
    const withIso = list(devices(build("iso-slot-full", base({ disks: [...base().disks, { id: "iso", device: "cdrom", sourcePath: "/isos/a.iso", format: "raw" }] }))).disk);
    expect(withIso.filter((x) => (x.alias as Node | undefined)?.["@_name"] === ISO_SLOT_ALIAS).map((x) => (x.source as Node)["@_file"])).toEqual(["/isos/a.iso"]);
    expect(withIso.filter((x) => x["@_device"] === "cdrom")).toHaveLength(1);
  });

  it("honours the cdrom bus and machine options (pc + ide: no PCIe ports, no scsi controller)", () => {
    const d = build("pc-ide", base(), { ...tcg, machine: "pc", cdromBus: "ide" }, { ...paths, seedIso: "/i/seed.iso" });
    const [, slot, seed] = list(devices(d).disk);
    expect(slot!.target).toEqual({ "@_dev": "hda", "@_bus": "ide" });
    expect(seed!.target).toEqual({ "@_dev": "hdb", "@_bus": "ide" });
    expect(list(devices(d).controller)).toEqual([{ "@_type": "pci", "@_index": "0", "@_model": "pci-root" }, { "@_type": "usb", "@_model": "none" }]);
    expect((d.os as Node).type).toMatchObject({ "@_machine": "pc" });
  });

  it("puts NICs on bridges with virtio model", () => {
    const d = build("nics", base({ nics: [{ mac: "52:54:00:AA:bb:01", bridge: "br0", model: "" }, { mac: "", bridge: "br-storage", model: "e1000e" }] }));
    const nics = list(devices(d).interface);
    expect(nics[0]).toEqual({ "@_type": "bridge", mac: { "@_address": "52:54:00:aa:bb:01" }, source: { "@_bridge": "br0" }, target: { "@_dev": vmTapName(base({}).vmUuid) }, model: { "@_type": "virtio" } });
    expect(nics[1]).not.toHaveProperty("target");
    expect(nics[1]).toMatchObject({ source: { "@_bridge": "br-storage" }, model: { "@_type": "e1000e" } });
    expect(() => buildDomainXml(base({ nics: [{ mac: "zz", bridge: "br0", model: "" }] }), tcg, paths)).toThrow(InvalidArgumentError);
  });

  it("plugs the NIC the manager sends (environment bridge, derived MAC, address for the seed) into its own PCIe root port", () => {
    const nic = { mac: "52:54:00:1f:2e:3d", bridge: "orb-12", model: "virtio", ipAddress: "10.128.4.9", prefixLength: 24, gateway: "10.128.4.1", floatingIp: "203.0.113.5" };
    const without = list((devices(build("no-nic", base())).controller)).filter((c) => c["@_model"] === "pcie-root-port").length;
    const d = build("manager-nic", base({ nics: [nic] }));
    expect(list(devices(d).interface)).toEqual([
      { "@_type": "bridge", mac: { "@_address": "52:54:00:1f:2e:3d" }, source: { "@_bridge": "orb-12" }, model: { "@_type": "virtio" },
        // libvirt's tap name for the VM's first NIC: what the host firewall matches before the tap exists.
        target: { "@_dev": expect.stringMatching(/^ov[0-9a-f]{13}$/) } },
    ]);
    expect(list(devices(d).controller).filter((c) => c["@_model"] === "pcie-root-port")).toHaveLength(without + 1);
    // The addresses are the guest's business (the seed) and the host firewall's, not the domain's.
    expect(JSON.stringify(d)).not.toContain("10.128.4.9");
    for (const bridge of ["orb-1234567890123", "br 0", "br/0"]) {
      expect(() => buildDomainXml(base({ nics: [{ ...nic, bridge }] }), tcg, paths)).toThrow(/is not a Linux interface name/);
    }
  });

  it("binds the serial console to a unix socket, still logged to the file, when a socket is given", () => {
    const d = build("serial-socket", base(), undefined, { ...paths, consoleSocket: "/var/lib/orbit/i/console.sock" });
    const source = { "@_mode": "bind", "@_path": "/var/lib/orbit/i/console.sock" };
    expect(devices(d).serial).toMatchObject({ "@_type": "unix", source, log: { "@_file": paths.serialLog, "@_append": "on" }, target: { "@_port": "0" } });
    expect(devices(d).console).toMatchObject({ "@_type": "unix", source, target: { "@_type": "serial", "@_port": "0" } });
  });

  it("logs the serial console to a file while keeping a pty console", () => {
    const d = build("serial", base());
    expect(devices(d).serial).toMatchObject({ "@_type": "pty", log: { "@_file": paths.serialLog, "@_append": "on" } });
    expect(devices(d).console).toMatchObject({ "@_type": "pty", target: { "@_type": "serial" } });
  });

  it("passes GPUs through by PCI address and vGPUs by mdev UUID", () => {
    const mdev = "9d4c0b3e-1f2a-4b5c-8d7e-6f5a4b3c2d1e";
    const d = build(
      "gpus",
      base({
        gpus: [
          { pciAddress: "0000:81:00.0", mode: "passthrough" },
          { pciAddress: "0000:c1:00.0", mode: "vgpu", vgpuType: "nvidia-692", mdevUuid: mdev },
        ],
      }),
      kvm,
    );
    const hostdevs = list(devices(d).hostdev);
    expect(hostdevs[0]).toEqual({
      "@_mode": "subsystem", "@_type": "pci", "@_managed": "yes",
      source: { address: { "@_domain": "0x0000", "@_bus": "0x81", "@_slot": "0x00", "@_function": "0x0" } },
    });
    expect(hostdevs[1]).toMatchObject({ "@_type": "mdev", "@_model": "vfio-pci", source: { address: { "@_uuid": mdev } } });
    expect(list(devices(d).controller)[0]).toEqual({ "@_type": "pci", "@_index": "0", "@_model": "pcie-root" });
    const big = build("gpu-hole64", base({ gpus: [{ pciAddress: "0000:81:00.0", mode: "passthrough" }] }), { ...kvm, pciHole64Gib: 512 });
    expect(list(devices(big).controller)[0]).toEqual({ "@_type": "pci", "@_index": "0", "@_model": "pcie-root", pcihole64: { "@_unit": "KiB", "#text": String(512 * 1024 * 1024) } });
    expect(list(devices(build("no-gpu-no-hole", base(), { ...kvm, pciHole64Gib: 512 })).controller)[0]!.pcihole64).toBeUndefined();
    expect(() => buildDomainXml(base({ gpus: [{ pciAddress: "0000:81:00.0", mode: "vgpu" }] }), kvm, paths)).toThrow(InvalidArgumentError);
    expect(() => buildDomainXml(base({ gpus: [{ pciAddress: "0000:81:00.0", mode: "mig" }] }), kvm, paths)).toThrow(UnsupportedError);
  });

  it("parses PCI addresses with and without the domain part", () => {
    expect(parsePciAddress("0000:81:00.0")).toEqual({ domain: "0x0000", bus: "0x81", slot: "0x00", function: "0x0" });
    expect(parsePciAddress("3B:1f.7")).toEqual({ domain: "0x0000", bus: "0x3b", slot: "0x1f", function: "0x7" });
    expect(() => parsePciAddress("81:00")).toThrow(InvalidArgumentError);
  });

  it("pins vCPUs one to one when enough host CPUs are given, else to the whole set, and binds memory to a NUMA node", () => {
    const d = build("pinned", base({ vcpus: 2, maxVcpus: 4, pinnedCpus: [8, 9, 10, 11], numaNode: 1 }), kvm);
    const tune = d.cputune as Node;
    expect(list(tune.vcpupin).map((p) => [p["@_vcpu"], p["@_cpuset"]])).toEqual([["0", "8"], ["1", "9"], ["2", "10"], ["3", "11"]]);
    expect(tune.emulatorpin).toEqual({ "@_cpuset": "8,9,10,11" });
    expect(d.numatune).toEqual({ memory: { "@_mode": "strict", "@_nodeset": "1" } });
    const few = build("pinned-few", base({ vcpus: 4, pinnedCpus: [2, 3] }), kvm);
    expect(list((few.cputune as Node).vcpupin).map((p) => p["@_cpuset"])).toEqual(["2,3", "2,3", "2,3", "2,3"]);
    expect(few.numatune).toBeUndefined();
    expect(build("unpinned", base()).cputune).toBeUndefined();
  });

  it("rejects specs it cannot express", () => {
    expect(() => buildDomainXml(base({ vmUuid: "nope" }), tcg, paths)).toThrow(InvalidArgumentError);
    expect(() => buildDomainXml(base({ vcpus: 4, maxVcpus: 2 }), tcg, paths)).toThrow(InvalidArgumentError);
    expect(() => buildDomainXml(base({ memoryMib: 0 }), tcg, paths)).toThrow(InvalidArgumentError);
    expect(() => buildDomainXml(base({ disks: [{ id: "d", device: "disk", sourcePath: "" }] }), tcg, paths)).toThrow(InvalidArgumentError);
  });

  it("names disks past z like libvirt (aa, ab, ...)", () => {
    expect([0, 25, 26, 27, 701, 702].map(diskLetters)).toEqual(["a", "z", "aa", "ab", "zz", "aaa"]);
  });

  describe.skipIf(toolMissing("virt-xml-validate"))("libvirt's RNG schema", () => {
    const dir = mkdtempSync(join(tmpdir(), "orbit-domain-xml-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("accepts every generated domain document", async () => {
      expect(generated.length).toBeGreaterThan(10);
      for (const [i, { label, xml }] of generated.entries()) {
        const file = join(dir, `${i}-${label}.xml`);
        writeFileSync(file, xml);
        const r = await execa("virt-xml-validate", [file, "domain"], { reject: false });
        expect({ label, exitCode: r.exitCode, out: r.exitCode === 0 ? "" : `${r.stdout}\n${r.stderr}\n${xml}` }).toEqual({ label, exitCode: 0, out: "" });
      }
    });
  });

  it("rejects what the schema rejects (the validator is really checking)", async () => {
    if (toolMissing("virt-xml-validate")) return;
    const dir = mkdtempSync(join(tmpdir(), "orbit-domain-xml-bad-"));
    try {
      const file = join(dir, "bad.xml");
      writeFileSync(file, buildDomainXml(base(), tcg, paths).replace("<on_crash>destroy</on_crash>", "<on_crash>explode</on_crash>"));
      const r = await execa("virt-xml-validate", [file, "domain"], { reject: false });
      expect(r.exitCode).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
