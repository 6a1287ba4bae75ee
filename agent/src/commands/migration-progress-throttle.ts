// A running migration's progress samples, thinned for the manager: at most one per interval for
// each MigrateVm command (the driver samples every 500 ms; a long migration would otherwise send
// thousands), and 0 for what the driver did not report (the protocol's "not reported").
import type { MigrationProgress as ProgressMessage } from "#shared/protocol.js";
import type { MigrationProgress } from "../drivers/hypervisor.js";

export function toMigrationProgressMessage(vmUuid: string, commandId: string, p: MigrationProgress): ProgressMessage {
  const n = (v: number | undefined) => (v !== undefined && Number.isFinite(v) && v > 0 ? Math.round(v) : 0);
  return {
    vmUuid, commandId,
    elapsedMs: n(p.elapsedMs),
    dataProcessedBytes: n(p.dataProcessedBytes),
    dataRemainingBytes: n(p.dataRemainingBytes),
    dataTotalBytes: n(p.dataTotalBytes),
    dirtyRatePagesPerSec: n(p.dirtyRatePagesPerSec),
    memoryBandwidthBps: n(p.memoryBandwidthBps),
    expectedDowntimeMs: n(p.expectedDowntimeMs),
    iteration: n(p.iteration),
  };
}

export class MigrationProgressThrottle {
  private readonly lastSent = new Map<string, number>();

  constructor(private readonly send: (m: ProgressMessage) => void, private readonly minIntervalMs = 500, private readonly now: () => number = Date.now) {}

  /** Sends the sample unless one of the same command went out less than the interval ago. */
  offer(vmUuid: string, commandId: string, p: MigrationProgress): boolean {
    const t = this.now();
    const last = this.lastSent.get(commandId);
    if (last !== undefined && t - last < this.minIntervalMs) return false;
    this.lastSent.set(commandId, t);
    // Forget commands long finished (a sample older than a minute is no command's latest any more).
    if (this.lastSent.size > 64) for (const [k, v] of this.lastSent) if (t - v > 60_000) this.lastSent.delete(k);
    this.send(toMigrationProgressMessage(vmUuid, commandId, p));
    return true;
  }
}
