// PURE: what libvirt and qemu-img say of a domain's snapshots: `virsh snapshot-dumpxml` (name,
// parent, state, time, whether it holds memory) and the `snapshots` of `qemu-img info
// --output=json` (the bytes each internal snapshot's saved memory takes in a qcow2).
import { XMLParser } from "fast-xml-parser";

export interface LibvirtSnapshot {
  name: string;
  /** "" for the first of the chain. */
  parent: string;
  /** The domain's state when it was taken ("running", "shutoff", "disk-snapshot"...). */
  state: string;
  /** Holds the guest's memory: `<memory snapshot='internal'|'external'>`, or a running domain's snapshot without that element (older libvirt). */
  memory: boolean;
  createdAtMs: number;
  description: string;
}

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@_", parseAttributeValue: false, parseTagValue: false });

export function parseSnapshotXml(xml: string): LibvirtSnapshot {
  type Doc = { domainsnapshot?: { name?: string; description?: string; state?: string; creationTime?: string; parent?: { name?: string }; memory?: { "@_snapshot"?: string } } };
  const s = (parser.parse(xml) as Doc).domainsnapshot;
  if (!s?.name) throw new Error("not a domain snapshot XML (no <domainsnapshot><name>)");
  const state = String(s.state ?? "");
  const memoryMode = s.memory?.["@_snapshot"];
  return {
    name: String(s.name),
    parent: String(s.parent?.name ?? ""),
    state,
    memory: memoryMode === undefined ? state === "running" || state === "paused" : memoryMode !== "no",
    createdAtMs: Number(s.creationTime ?? 0) * 1000,
    description: String(s.description ?? ""),
  };
}

/** Snapshot name -> bytes of saved VM state, from `qemu-img info --output=json` of one qcow2 (none: {}). */
export function parseQemuImgSnapshotSizes(json: string): Map<string, number> {
  const info = JSON.parse(json) as { snapshots?: { name?: string; "vm-state-size"?: number }[] };
  return new Map((info.snapshots ?? []).filter((s) => s.name).map((s) => [String(s.name), Number(s["vm-state-size"] ?? 0)]));
}

/** `virsh snapshot-list --name` output: one name a line. */
export function parseSnapshotNames(text: string): string[] {
  return text.split("\n").map((l) => l.trim()).filter(Boolean);
}
