// A VM's usage between two counter reports of its agent: CPU % from the CPU time the domain used
// over the wall time (all vCPUs together are 100 %), byte rates from the counters' deltas.
import type { VmStats } from "#shared/protocol.js";

/** One report's counters of one VM, summed over its disks and interfaces. */
export interface VmCounters {
  atMs: number;
  cpuTimeNs: number;
  vcpus: number;
  memoryUsedBytes: number;
  diskReadBytes: number;
  diskWriteBytes: number;
  networkInBytes: number;
  networkOutBytes: number;
}

export interface VmUsage {
  granularitySeconds: number;
  cpuPercent: number;
  memoryUsedBytes: number;
  diskReadBytesPerSecond: number;
  diskWriteBytesPerSecond: number;
  networkInBytesPerSecond: number;
  networkOutBytesPerSecond: number;
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

export function countersOf(atMs: number, s: VmStats): VmCounters {
  return {
    atMs,
    cpuTimeNs: s.cpuTimeNs,
    vcpus: Math.max(1, s.vcpusCurrent),
    // The guest's own figure when its balloon driver reports one; what the domain holds otherwise.
    memoryUsedBytes: (s.memoryUsedKib || s.memoryCurrentKib) * 1024,
    diskReadBytes: sum(s.blocks.map((b) => b.rdBytes)),
    diskWriteBytes: sum(s.blocks.map((b) => b.wrBytes)),
    networkInBytes: sum(s.interfaces.map((i) => i.rxBytes)),
    networkOutBytes: sum(s.interfaces.map((i) => i.txBytes)),
  };
}

/**
 * The usage between two reports, or undefined when no rate can be made: no time passed, or a
 * counter went back (the domain was restarted, which resets them; the next pair will do).
 */
export function usageBetween(prev: VmCounters, next: VmCounters): VmUsage | undefined {
  const seconds = (next.atMs - prev.atMs) / 1000;
  if (!(seconds > 0)) return undefined;
  const deltas = [
    next.cpuTimeNs - prev.cpuTimeNs, next.diskReadBytes - prev.diskReadBytes, next.diskWriteBytes - prev.diskWriteBytes,
    next.networkInBytes - prev.networkInBytes, next.networkOutBytes - prev.networkOutBytes,
  ] as const;
  if (deltas.some((d) => d < 0)) return undefined;
  const [cpuNs, read, write, rx, tx] = deltas;
  return {
    granularitySeconds: Math.max(1, Math.round(seconds)),
    // Clamped: a report that left the agent late makes the wall time look shorter than the CPU time.
    cpuPercent: Math.min(100, (cpuNs / (seconds * 1e9 * next.vcpus)) * 100),
    memoryUsedBytes: next.memoryUsedBytes,
    diskReadBytesPerSecond: read / seconds,
    diskWriteBytesPerSecond: write / seconds,
    networkInBytesPerSecond: rx / seconds,
    networkOutBytesPerSecond: tx / seconds,
  };
}
