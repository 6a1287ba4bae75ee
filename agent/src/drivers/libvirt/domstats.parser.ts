// PURE: `virsh domstats` output ("Domain: 'name'" then "  key=value" lines) -> typed stats.
import type { BlockStats, NetStats } from "../hypervisor.js";
import { type DomainState, stateFromNumbers } from "./domain-state.js";

export type { BlockStats, NetStats };

export interface DomainStats {
  /** libvirt domain name (domstats is keyed by name). */
  name: string;
  state: DomainState | undefined;
  /** Total CPU time in ns (a JS number: exact up to ~104 days of CPU time). */
  cpuTimeNs: number | undefined;
  cpuUserNs: number | undefined;
  cpuSystemNs: number | undefined;
  vcpuCurrent: number | undefined;
  vcpuMaximum: number | undefined;
  balloon: {
    currentKib: number | undefined;
    maximumKib: number | undefined;
    /** Guest-reported (needs the balloon driver in the guest and a stats period). */
    availableKib: number | undefined;
    unusedKib: number | undefined;
    usableKib: number | undefined;
    /** Host RSS of the QEMU process. */
    rssKib: number | undefined;
  };
  blocks: BlockStats[];
  nets: NetStats[];
  /** Every key=value line, for what the typed fields do not cover. */
  raw: Record<string, string>;
}

export function parseDomstatsRecords(text: string): { name: string; raw: Record<string, string> }[] {
  const out: { name: string; raw: Record<string, string> }[] = [];
  let current: { name: string; raw: Record<string, string> } | undefined;
  for (const line of text.split("\n")) {
    const head = /^Domain: '(.*)'\s*$/.exec(line);
    if (head) {
      current = { name: head[1]!, raw: {} };
      out.push(current);
      continue;
    }
    const eq = line.indexOf("=");
    if (current && eq > 0) current.raw[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

function n(raw: Record<string, string>, key: string): number | undefined {
  const v = raw[key];
  if (v === undefined || v === "") return undefined;
  const x = Number(v);
  return Number.isFinite(x) ? x : undefined;
}

export function toDomainStats(rec: { name: string; raw: Record<string, string> }): DomainStats {
  const { raw } = rec;
  const st = n(raw, "state.state");
  const blocks: BlockStats[] = [];
  for (let i = 0; i < (n(raw, "block.count") ?? 0); i++) {
    const p = `block.${i}.`;
    blocks.push({
      name: raw[`${p}name`] ?? "",
      path: raw[`${p}path`] ?? "",
      rdBytes: n(raw, `${p}rd.bytes`) ?? 0,
      wrBytes: n(raw, `${p}wr.bytes`) ?? 0,
      rdReqs: n(raw, `${p}rd.reqs`) ?? 0,
      wrReqs: n(raw, `${p}wr.reqs`) ?? 0,
      capacityBytes: n(raw, `${p}capacity`) ?? 0,
      allocationBytes: n(raw, `${p}allocation`) ?? 0,
    });
  }
  const nets: NetStats[] = [];
  for (let i = 0; i < (n(raw, "net.count") ?? 0); i++) {
    const p = `net.${i}.`;
    nets.push({
      name: raw[`${p}name`] ?? "",
      rxBytes: n(raw, `${p}rx.bytes`) ?? 0,
      txBytes: n(raw, `${p}tx.bytes`) ?? 0,
      rxPackets: n(raw, `${p}rx.pkts`) ?? 0,
      txPackets: n(raw, `${p}tx.pkts`) ?? 0,
      rxDrops: n(raw, `${p}rx.drop`) ?? 0,
      txDrops: n(raw, `${p}tx.drop`) ?? 0,
    });
  }
  return {
    name: rec.name,
    state: st === undefined ? undefined : stateFromNumbers(st, n(raw, "state.reason") ?? 0),
    cpuTimeNs: n(raw, "cpu.time"),
    cpuUserNs: n(raw, "cpu.user"),
    cpuSystemNs: n(raw, "cpu.system"),
    vcpuCurrent: n(raw, "vcpu.current"),
    vcpuMaximum: n(raw, "vcpu.maximum"),
    balloon: {
      currentKib: n(raw, "balloon.current"),
      maximumKib: n(raw, "balloon.maximum"),
      availableKib: n(raw, "balloon.available"),
      unusedKib: n(raw, "balloon.unused"),
      usableKib: n(raw, "balloon.usable"),
      rssKib: n(raw, "balloon.rss"),
    },
    blocks,
    nets,
    raw,
  };
}

export function parseDomstats(text: string): DomainStats[] {
  return parseDomstatsRecords(text).map(toDomainStats);
}
