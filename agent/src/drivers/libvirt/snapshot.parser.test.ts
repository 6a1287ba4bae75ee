import { describe, expect, it } from "vitest";
import { classifyVirshError } from "./virsh-error.js";
import { parseQemuImgSnapshotSizes, parseSnapshotNames, parseSnapshotXml } from "./snapshot.parser.js";

// Shapes as libvirt 9.0 prints them (`virsh snapshot-dumpxml`), trimmed of the <domain> copy.
const RUNNING = `<domainsnapshot>
  <name>orbit-1b2c</name>
  <description>before upgrade</description>
  <state>running</state>
  <parent>
    <name>orbit-0a1b</name>
  </parent>
  <creationTime>1764884405</creationTime>
  <memory snapshot='internal'/>
  <disks>
    <disk name='vda' snapshot='internal'/>
    <disk name='sda' snapshot='no'/>
  </disks>
  <domain type='qemu'><name>orbit-vm</name></domain>
</domainsnapshot>`;

const SHUTOFF = `<domainsnapshot>
  <name>orbit-0a1b</name>
  <state>shutoff</state>
  <creationTime>1764884000</creationTime>
  <memory snapshot='no'/>
</domainsnapshot>`;

describe("snapshot parsers", () => {
  it("reads a running domain's internal snapshot: its parent, time, memory and description", () => {
    expect(parseSnapshotXml(RUNNING)).toEqual({
      name: "orbit-1b2c", parent: "orbit-0a1b", state: "running", memory: true, createdAtMs: 1764884405000, description: "before upgrade",
    });
  });

  it("reads a shut-off domain's snapshot: no parent, no memory", () => {
    expect(parseSnapshotXml(SHUTOFF)).toMatchObject({ name: "orbit-0a1b", parent: "", state: "shutoff", memory: false, description: "" });
  });

  it("takes a running snapshot without a <memory> element (older libvirt) as holding memory; refuses what is not a snapshot", () => {
    expect(parseSnapshotXml("<domainsnapshot><name>a</name><state>running</state></domainsnapshot>").memory).toBe(true);
    expect(() => parseSnapshotXml("<domain><name>x</name></domain>")).toThrow(/not a domain snapshot/);
  });

  it("reads each internal snapshot's saved-state bytes from qemu-img info", () => {
    const json = JSON.stringify({
      filename: "root.qcow2", format: "qcow2",
      snapshots: [{ id: "1", name: "orbit-0a1b", "vm-state-size": 0 }, { id: "2", name: "orbit-1b2c", "vm-state-size": 58_720_256 }],
    });
    expect([...parseQemuImgSnapshotSizes(json)]).toEqual([["orbit-0a1b", 0], ["orbit-1b2c", 58_720_256]]);
    expect(parseQemuImgSnapshotSizes(JSON.stringify({ format: "qcow2" })).size).toBe(0);
  });

  it("reads snapshot-list --name; classifies a missing snapshot apart from a missing domain", () => {
    expect(parseSnapshotNames("orbit-0a1b\norbit-1b2c\n\n")).toEqual(["orbit-0a1b", "orbit-1b2c"]);
    expect(parseSnapshotNames("\n")).toEqual([]);
    expect(classifyVirshError("error: Domain snapshot not found: no domain snapshot with matching name 'x'")).toBe("no_snapshot");
    expect(classifyVirshError("error: failed to get domain 'x'")).toBe("no_domain");
  });
});
