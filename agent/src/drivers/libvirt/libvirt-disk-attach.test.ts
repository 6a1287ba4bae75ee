// attachDisk's calls to libvirt, against a stand-in virsh that records them: a SCSI disk on a
// domain without a SCSI controller gets the virtio-scsi controller attached first (libvirt's own
// default, LSI, has no slot on q35: "No more available PCI slots", seen on real libvirt).
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { LibvirtHypervisor } from "./libvirt-hypervisor.js";

const UUID = "0b2c8d4e-53a3-4cdc-bd66-50c5ce392e4b";
const VDA = "<disk type='file' device='disk'><source file='/i/root.qcow2'/><target dev='vda' bus='virtio'/></disk>";

describe("LibvirtHypervisor.attachDisk", () => {
  const dir = mkdtempSync(join(tmpdir(), "orbit-attach-"));
  const log = join(dir, "calls.log");
  const domainXml = join(dir, "domain.xml");
  const virsh = join(dir, "virsh");
  // Drops "-q -c <uri>", logs the command (and, on one line, the device file attach-device gets: it is deleted after the call).
  writeFileSync(virsh, `#!/bin/sh
shift 3
echo "$*" >> '${log}'
case "$1" in
  dumpxml) cat '${domainXml}' ;;
  domstate) echo "running (booted)" ;;
  attach-device) tr -d '\\n' < "$3" | sed 's/>  *</></g' >> '${log}'; echo >> '${log}' ;;
esac
`);
  chmodSync(virsh, 0o755);
  const hv = new LibvirtHypervisor({ uri: "qemu:///fake", domainType: "qemu", instancesDir: join(dir, "instances"), virshPath: virsh });
  const calls = () => readFileSync(log, "utf8");
  const attached = () => calls().split("\n").filter((l) => l.startsWith("<"));

  beforeEach(() => writeFileSync(log, ""));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("adds the virtio-scsi controller before a SCSI disk when the domain has none", async () => {
    writeFileSync(domainXml, `<domain><devices>${VDA}<controller type='pci' index='0' model='pcie-root'/></devices></domain>`);
    expect(await hv.attachDisk(UUID, { sourcePath: "/v/data.qcow2", bus: "scsi" })).toBe("sda");
    expect(attached()).toEqual([
      `<controller type="scsi" index="0" model="virtio-scsi"/>`,
      expect.stringMatching(/^<disk type="file" device="disk">.*<source file="\/v\/data.qcow2"\/><target dev="sda" bus="scsi"\/>/),
    ]);
    expect(calls()).toMatch(new RegExp(`^attach-device ${UUID} \\S+attach-scsi-controller.xml --live --config$`, "m"));
    expect(calls()).toMatch(new RegExp(`^attach-device ${UUID} \\S+attach-sda.xml --live --config$`, "m"));
  });

  it("attaches only the disk when the domain has a SCSI controller, or the disk is virtio", async () => {
    writeFileSync(domainXml, `<domain><devices>${VDA}<disk type='file' device='cdrom'><target dev='sda' bus='scsi'/></disk><controller type='scsi' index='0' model='virtio-scsi'/></devices></domain>`);
    expect(await hv.attachDisk(UUID, { sourcePath: "/v/a.qcow2", bus: "scsi" })).toBe("sdb");
    writeFileSync(domainXml, `<domain><devices>${VDA}</devices></domain>`);
    expect(await hv.attachDisk(UUID, { sourcePath: "/v/b.qcow2" })).toBe("vdb");
    expect(attached()).toEqual([
      expect.stringMatching(/<target dev="sdb" bus="scsi"\/>/),
      expect.stringMatching(/<target dev="vdb" bus="virtio"\/>/),
    ]);
  });
});
