// Parsers on output captured from virsh 9.0.0 (real libvirtd + QEMU 7.2 and the test driver).
import { describe, expect, it } from "vitest";
import { PowerState } from "#shared/protocol.js";
import { parseDomainBridges, parseDomainDisks, parseDomainPciHostdevs, parseScsiControllerModels, parseSerialSocketPath } from "./domain-disks.parser.js";
import { parseEventLine } from "./domain-event.parser.js";
import { parseUuidNameList } from "./domain-list.parser.js";
import { isActive, parseDomstateReason, stateFromNumbers } from "./domain-state.js";
import { parseDomstats } from "./domstats.parser.js";
import { parseNodeMemStatsFreeKib } from "./node-memstats.parser.js";
import { orbitMetadataElement, parseOrbitMetadata, parseOrbitMetadataElement } from "./orbit-metadata.js";
import { classifyVirshError, virshErrorFrom } from "./virsh-error.js";
import { XMLBuilder } from "fast-xml-parser";

const DOMSTATS = `Domain: 'ex1'
  state.state=1
  state.reason=1
  cpu.time=4570000000
  cpu.user=3670000000
  cpu.system=900000000
  balloon.current=262144
  balloon.maximum=262144
  balloon.unused=191276
  balloon.available=223336
  balloon.usable=194872
  balloon.rss=244288
  vcpu.current=1
  vcpu.maximum=2
  vcpu.0.state=1
  net.count=1
  net.0.name=vnet0
  net.0.rx.bytes=1200
  net.0.rx.pkts=10
  net.0.rx.drop=1
  net.0.tx.bytes=3400
  net.0.tx.pkts=20
  net.0.tx.drop=0
  block.count=2
  block.0.name=vda
  block.0.path=/tmp/ex/ov.qcow2
  block.0.rd.reqs=86
  block.0.rd.bytes=90624
  block.0.wr.reqs=3
  block.0.wr.bytes=4096
  block.0.allocation=0
  block.0.capacity=67108864
  block.1.name=sda
  block.1.rd.reqs=0
  block.1.rd.bytes=0

Domain: 'off vm'
  state.state=5
  state.reason=5
`;

describe("virsh output parsers", () => {
  it("parses nodememstats", () => {
    expect(parseNodeMemStatsFreeKib("total  :  24684096 KiB\nfree   :  23172416 KiB\nbuffers:  33208 KiB\ncached :  691716 KiB\n")).toBe(23172416 + 33208 + 691716);
    expect(() => parseNodeMemStatsFreeKib("")).toThrow();
  });

  it("parses domstats into typed per-domain stats", () => {
    const [a, b] = parseDomstats(DOMSTATS);
    expect(a).toMatchObject({
      name: "ex1",
      state: { powerState: PowerState.POWER_STATE_RUNNING, reason: "booted" },
      cpuTimeNs: 4570000000, cpuUserNs: 3670000000, cpuSystemNs: 900000000, vcpuCurrent: 1, vcpuMaximum: 2,
      balloon: { currentKib: 262144, maximumKib: 262144, unusedKib: 191276, availableKib: 223336, usableKib: 194872, rssKib: 244288 },
      nets: [{ name: "vnet0", rxBytes: 1200, txBytes: 3400, rxPackets: 10, txPackets: 20, rxDrops: 1, txDrops: 0 }],
      blocks: [
        { name: "vda", path: "/tmp/ex/ov.qcow2", rdBytes: 90624, wrBytes: 4096, rdReqs: 86, wrReqs: 3, capacityBytes: 67108864, allocationBytes: 0 },
        { name: "sda", path: "", rdBytes: 0, wrBytes: 0, rdReqs: 0, wrReqs: 0, capacityBytes: 0, allocationBytes: 0 },
      ],
    });
    expect(a!.raw["vcpu.0.state"]).toBe("1");
    expect(b).toMatchObject({ name: "off vm", state: { powerState: PowerState.POWER_STATE_SHUTOFF, reason: "saved" }, cpuTimeNs: undefined, blocks: [] });
  });

  it("maps states and reasons", () => {
    expect(stateFromNumbers(3, 1)).toEqual({ powerState: PowerState.POWER_STATE_PAUSED, reason: "user" });
    expect(stateFromNumbers(5, 2)).toEqual({ powerState: PowerState.POWER_STATE_SHUTOFF, reason: "destroyed" });
    expect(stateFromNumbers(7, 0)).toEqual({ powerState: PowerState.POWER_STATE_SUSPENDED, reason: "unknown" });
    expect(stateFromNumbers(1, 99).reason).toBe("reason-99");
    expect(parseDomstateReason("shut off (saved)\n\n")).toEqual({ powerState: PowerState.POWER_STATE_SHUTOFF, reason: "saved" });
    expect(parseDomstateReason("running (booted)")).toEqual({ powerState: PowerState.POWER_STATE_RUNNING, reason: "booted" });
    expect(parseDomstateReason("in shutdown (user)").powerState).toBe(PowerState.POWER_STATE_SHUTTING_DOWN);
    expect(parseDomstateReason("paused (I/O error)")).toEqual({ powerState: PowerState.POWER_STATE_PAUSED, reason: "I/O error" });
    expect(isActive(PowerState.POWER_STATE_PAUSED)).toBe(true);
    expect(isActive(PowerState.POWER_STATE_SHUTOFF)).toBe(false);
  });

  it("parses virsh event lines", () => {
    expect(parseEventLine("2026-11-23 14:22:52.772+0000: event 'lifecycle' for domain 'ex1': Shutdown Finished after guest request")).toEqual({
      atMs: Date.parse("2026-11-23T14:22:52.772Z"), type: "lifecycle", domain: "ex1", event: "shutdown", detail: "finished after guest request",
      text: "Shutdown Finished after guest request",
    });
    expect(parseEventLine("2026-11-23 14:22:45.559+0100: event 'lifecycle' for domain 'a b': Started Booted")).toMatchObject({
      atMs: Date.parse("2026-11-23T13:22:45.559Z"), domain: "a b", event: "started", detail: "booted",
    });
    expect(parseEventLine("2026-11-23 14:22:45.559+0000: event 'reboot' for domain 'x'")).toMatchObject({ type: "reboot", event: "reboot", detail: "" });
    expect(parseEventLine("2026-11-23 14:22:45.559+0000: event 'balloon-change' for domain 'x': 196608KiB")).toMatchObject({ type: "balloon-change", detail: "196608KiB" });
    expect(parseEventLine("event loop interrupted")).toBeUndefined();
  });

  it("parses list --uuid --name and domain disks", () => {
    expect(parseUuidNameList("3CFF8D4E-53a3-4cdc-bd66-50c5ce392e4b ex1\n6695eb01-f6a4-8304-79aa-97f2502e193f  with space \n\n")).toEqual([
      { uuid: "3cff8d4e-53a3-4cdc-bd66-50c5ce392e4b", name: "ex1" },
      { uuid: "6695eb01-f6a4-8304-79aa-97f2502e193f", name: "with space" },
    ]);
    expect(parseDomainDisks(`<domain><devices><disk type='file' device='disk'><source file='/a.qcow2'/><target dev='vda' bus='virtio'/></disk>
      <disk type='block' device='disk'><source dev='/dev/vg/x'/><target dev='sdb' bus='scsi'/></disk><disk type='file' device='cdrom'><target dev='sda' bus='scsi'/><alias name='ua-orbit-iso'/></disk></devices></domain>`)).toEqual([
      { device: "disk", targetDev: "vda", bus: "virtio", sourcePath: "/a.qcow2", alias: "" },
      { device: "disk", targetDev: "sdb", bus: "scsi", sourcePath: "/dev/vg/x", alias: "" },
      { device: "cdrom", targetDev: "sda", bus: "scsi", sourcePath: "", alias: "ua-orbit-iso" },
    ]);
  });

  it("parses a domain's SCSI controller models", () => {
    expect(parseScsiControllerModels("<domain><devices><controller type='pci' index='0' model='pcie-root'/><controller type='usb' model='none'/></devices></domain>")).toEqual([]);
    expect(parseScsiControllerModels("<domain><devices><controller type='scsi' index='0' model='virtio-scsi'><address type='pci'/></controller><controller type='scsi' index='1'/></devices></domain>")).toEqual(["virtio-scsi", ""]);
    expect(parseScsiControllerModels("<domain><devices/></domain>")).toEqual([]);
  });

  it("reads Orbit metadata back from domain XML (any prefix) and from virsh metadata's bare element", () => {
    const meta = { vmUuid: "u-1", name: "n", labels: { a: "1", b: "" }, ownedFiles: ["/x/one.qcow2"], instanceDir: "/x" };
    const built = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: "@_" }).build({ domain: { name: "d", metadata: orbitMetadataElement(meta) } }) as string;
    expect(parseOrbitMetadata(built)).toEqual(meta);
    expect(parseOrbitMetadata(built.replaceAll("orbit:", "o2:").replace("xmlns:orbit", "xmlns:o2"))).toEqual(meta);
    expect(parseOrbitMetadata("<domain><metadata><x:vm xmlns:x='https://example.com/other'><x:uuid>u</x:uuid></x:vm></metadata></domain>")).toBeUndefined();
    expect(parseOrbitMetadataElement(`<vm>\n  <uuid>u-1</uuid>\n  <name>n</name>\n  <instance-dir>/x</instance-dir>\n  <labels>\n    <label key="a" value="1"/>\n    <label key="b" value=""/>\n  </labels>\n  <owned>\n    <file path="/x/one.qcow2"/>\n  </owned>\n</vm>\n`)).toEqual(meta);
  });

  it("classifies virsh errors and keeps libvirt's message", () => {
    const cases: [string, string][] = [
      ["error: failed to get domain 'nope'\n", "no_domain"],
      ["error: Domain not found: no domain with matching uuid 'x'\n", "no_domain"],
      ["error: Domain is already active\n", "already_running"],
      ["error: Failed to destroy domain 'ex1'\nerror: Requested operation is not valid: domain is not running\n", "not_running"],
      ["error: Refusing to undefine while domain managed save image exists\n", "unknown"],
      ["error: Failed to undefine domain 'test'\nerror: unsupported flags (0x4) in function testDomainUndefineFlags\n", "unsupported"],
      ["error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/nope': No such file or directory\n", "connection"],
      ["error: metadata not found: Requested metadata element is not present\n", "metadata_not_found"],
      ["error: Failed to define domain from d.xml\nerror: XML error: The PCI controller with index='0' must be model='pcie-root'\n", "invalid_config"],
      ["error: Timed out during operation: cannot acquire state change lock (held by monitor=remoteDispatchDomainSuspend)\n", "timeout"],
      ["error: No disk found whose source path or target is vdz\n", "device_not_found"],
      ["error: Requested operation is not valid: cannot migrate domain with 1 snapshots\n", "operation_invalid"],
    ];
    for (const [stderr, kind] of cases) expect({ stderr, kind: classifyVirshError(stderr) }).toEqual({ stderr, kind });
    const e = virshErrorFrom("error: Failed to destroy domain 'ex1'\nerror: Requested operation is not valid: domain is not running\n", ["destroy", "ex1"]);
    expect(e.message).toBe("virsh destroy: Failed to destroy domain 'ex1': Requested operation is not valid: domain is not running");
    expect(e.code).toBe("hypervisor_error");
    expect(e.details.libvirtCode).toBe("not_running");
    expect(e.retryable).toBe(false);
    expect(virshErrorFrom("error: failed to connect to the hypervisor\n", ["list"]).retryable).toBe(true);
  });
});

describe("parseDomainMdevs", () => {
  it("lists the mdev uuids of vGPU hostdevs and ignores PCI passthrough", async () => {
    const { parseDomainMdevs } = await import("./domain-disks.parser.js");
    const xml = `<domain type='kvm'><devices>
      <hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/></source></hostdev>
      <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x81' slot='0x00' function='0x0'/></source></hostdev>
    </devices></domain>`;
    expect(parseDomainMdevs(xml)).toEqual(["c2177883-f1bb-47f0-914d-32a22e3a8804"]);
    expect(parseDomainMdevs("<domain><devices/></domain>")).toEqual([]);
  });
});

describe("parseDomainBridges", () => {
  it("lists each bridge a domain's bridge NICs use, once; other interface types are left out", () => {
    const xml = `<domain type='qemu'><devices>
      <interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='orb-3'/><model type='virtio'/></interface>
      <interface type='bridge'><source bridge='orb-3'/></interface>
      <interface type='network'><source network='default'/></interface>
      <interface type='bridge'><source bridge='br0'/></interface>
    </devices></domain>`;
    expect(parseDomainBridges(xml)).toEqual(["orb-3", "br0"]);
    expect(parseDomainBridges("<domain type='qemu'><devices><interface type='bridge'><source bridge='orb-1'/></interface></devices></domain>")).toEqual(["orb-1"]);
    expect(parseDomainBridges("<domain type='qemu'><devices/></domain>")).toEqual([]);
  });
});

describe("domain XML readers for migration", () => {
  const xml = `<domain type='qemu'><name>x</name><devices>
    <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x3b' slot='0x00' function='0x1'/></source></hostdev>
    <hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='0b3c1a2e-0000-4000-8000-000000000001'/></source></hostdev>
    <serial type='unix'><source mode='bind' path='/var/lib/orbit/instances/u/console-1a2b3c4d.sock'/><log file='/var/lib/orbit/instances/u/serial.log' append='on'/><target port='0'/></serial>
  </devices></domain>`;

  it("names passthrough PCI devices (not mdevs)", () => {
    expect(parseDomainPciHostdevs(xml)).toEqual(["0000:3b:00.1"]);
    expect(parseDomainPciHostdevs("<domain><devices/></domain>")).toEqual([]);
  });

  it("finds the console's unix socket; a pty serial has none", () => {
    expect(parseSerialSocketPath(xml)).toBe("/var/lib/orbit/instances/u/console-1a2b3c4d.sock");
    expect(parseSerialSocketPath("<domain><devices><serial type='pty'><target port='0'/></serial></devices></domain>")).toBeUndefined();
  });
});
