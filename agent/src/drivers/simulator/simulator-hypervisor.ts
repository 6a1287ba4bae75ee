// A simulated hypervisor, like CloudStack's simulator: a whole fleet runs on one machine.
// It keeps the rules a real host enforces (memory runs out, names are unique, a missing
// domain is an error) so the manager meets the same failures it would meet on libvirt.
// In memory, or with a state dir its domains outlive the process, as a real host's do.
import { HypervisorError } from "#shared/errors.js";
import { PowerState, StopMode, VmSpec, type DomainStatus, type NumaCell } from "#shared/protocol.js";
import type { DomainLifecycleEvent, Hypervisor, HypervisorHostFacts, StopOptions } from "../hypervisor.js";
import { SimulatorStateFile, type SimulatedDomain } from "./simulator-state-file.js";

export interface SimulatorOptions {
  hostUuid: string;
  hostname: string;
  cpus: number;
  memoryMib: number;
  numaCells?: number;
  startDelayMs?: number;
  /** Test hook: a reason to fail starting this spec, or undefined to start it. */
  failStart?: (spec: VmSpec) => string | undefined;
  /** Where the domains are kept across restarts (simulator-domains.json); in memory when absent. */
  stateDir?: string | undefined;
}

function splitCells(cpus: number, memoryMib: number, cells: number): NumaCell[] {
  const per = Math.floor(cpus / cells);
  return Array.from({ length: cells }, (_, i) => ({
    id: i,
    cpus: Array.from({ length: i === cells - 1 ? cpus - per * (cells - 1) : per }, (_, k) => i * per + k),
    memoryMib: Math.floor(memoryMib / cells),
  }));
}

export class SimulatorHypervisor implements Hypervisor {
  readonly kind = "simulator" as const;
  private readonly domains: Map<string, SimulatedDomain>;
  private readonly stateFile: SimulatorStateFile | undefined;
  private readonly listeners = new Set<(e: DomainLifecycleEvent) => void>();
  /** How many times each operation really ran (tests check commands are not executed twice). */
  readonly calls = { start: 0, stop: 0, destroy: 0 };

  constructor(private readonly o: SimulatorOptions) {
    this.stateFile = o.stateDir ? new SimulatorStateFile(o.stateDir) : undefined;
    const saved = this.stateFile?.load();
    if (saved && saved.hostUuid !== o.hostUuid) {
      throw new HypervisorError(`simulator state ${this.stateFile!.file} belongs to host ${saved.hostUuid}, not ${o.hostUuid}`);
    }
    this.domains = saved?.domains ?? new Map();
    // Written at once, so the host's UUID is on disk before anything is reported under it.
    if (this.stateFile && !saved) this.stateFile.save({ hostUuid: o.hostUuid, domains: this.domains });
  }

  /**
   * The one way domains change: the new state is written first, so what the manager is told
   * never runs ahead of what a restart would find. A failed write changes nothing.
   */
  private commit(uuid: string, next: SimulatedDomain | undefined): void {
    if (this.stateFile) {
      const after = new Map(this.domains);
      if (next) after.set(uuid, next);
      else after.delete(uuid);
      this.stateFile.save({ hostUuid: this.o.hostUuid, domains: after });
    }
    if (next) this.domains.set(uuid, next);
    else this.domains.delete(uuid);
  }

  async hostFacts(): Promise<HypervisorHostFacts> {
    const cells = this.o.numaCells ?? 1;
    return {
      hostUuid: this.o.hostUuid,
      hostname: this.o.hostname,
      hypervisor: "simulator",
      driver: "simulator",
      cpuModel: "Simulated x86_64",
      cpuArch: "x86_64",
      sockets: cells,
      coresPerSocket: Math.max(1, Math.floor(this.o.cpus / cells / 2)),
      threadsPerCore: this.o.cpus >= 2 * cells ? 2 : 1,
      cpus: this.o.cpus,
      cpuMhz: 2400,
      memoryMib: this.o.memoryMib,
      numaCells: splitCells(this.o.cpus, this.o.memoryMib, cells),
      hypervisorVersion: "simulator",
    };
  }

  private usedMemoryMib(): number {
    let used = 0;
    for (const d of this.domains.values()) if (d.state === PowerState.POWER_STATE_RUNNING) used += d.spec.memoryMib;
    return used;
  }

  async freeMemoryMib(): Promise<number> {
    return Math.max(0, this.o.memoryMib - this.usedMemoryMib());
  }

  async listDomains(): Promise<DomainStatus[]> {
    return [...this.domains.entries()].map(([uuid, d]) => this.status(uuid, d));
  }

  private status(uuid: string, d: SimulatedDomain): DomainStatus {
    return { vmUuid: uuid, name: d.spec.name, powerState: d.state, reason: d.reason, managed: d.managed };
  }

  private emit(vmUuid: string, event: string, detail: string): void {
    for (const l of this.listeners) l({ vmUuid, event, detail });
  }

  async startVm(spec: VmSpec): Promise<DomainStatus> {
    this.calls.start++;
    const uuid = spec.vmUuid.toLowerCase();
    const d = this.domains.get(uuid);
    if (d?.state === PowerState.POWER_STATE_RUNNING) return this.status(uuid, d);
    if (spec.memoryMib > this.o.memoryMib - this.usedMemoryMib()) {
      throw new HypervisorError(`cannot start ${spec.name}: ${spec.memoryMib} MiB requested, ${this.o.memoryMib - this.usedMemoryMib()} MiB free`, {
        virshError: "internal error: process exited while connecting to monitor: cannot allocate memory",
      });
    }
    const failure = this.o.failStart?.(spec);
    if (this.o.startDelayMs) await new Promise((r) => setTimeout(r, this.o.startDelayMs));
    if (failure) throw new HypervisorError(failure, { virshError: failure });
    const started: SimulatedDomain = { spec, state: PowerState.POWER_STATE_RUNNING, reason: "booted", managed: d?.managed ?? true };
    this.commit(uuid, started);
    this.emit(uuid, "started", "booted");
    return this.status(uuid, started);
  }

  async stopVm(vmUuid: string, opts: StopOptions): Promise<DomainStatus> {
    this.calls.stop++;
    const uuid = vmUuid.toLowerCase();
    const d = this.domains.get(uuid);
    if (!d) throw new HypervisorError(`domain ${vmUuid} not found`, { virshError: "Domain not found", code: "no_domain" });
    if (d.state === PowerState.POWER_STATE_SHUTOFF) return this.status(uuid, d);
    const stopped: SimulatedDomain = {
      ...d, state: PowerState.POWER_STATE_SHUTOFF, reason: opts.mode === StopMode.STOP_MODE_FORCE ? "destroyed" : "shutdown",
    };
    this.commit(uuid, stopped);
    this.emit(uuid, "stopped", stopped.reason);
    return this.status(uuid, stopped);
  }

  async destroyVm(vmUuid: string): Promise<void> {
    this.calls.destroy++;
    const uuid = vmUuid.toLowerCase();
    const d = this.domains.get(uuid);
    if (!d) return;
    this.commit(uuid, undefined);
    if (d.state !== PowerState.POWER_STATE_SHUTOFF) this.emit(uuid, "stopped", "destroyed");
    this.emit(uuid, "undefined", "removed");
  }

  onDomainEvent(listener: (e: DomainLifecycleEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }

  // ---- test hooks: things that happen to real hosts behind the manager's back

  /** The guest powers itself off (or crashes). */
  crash(vmUuid: string, reason = "crashed"): void {
    const uuid = vmUuid.toLowerCase();
    const d = this.domains.get(uuid);
    if (!d) return;
    this.commit(uuid, { ...d, state: reason === "crashed" ? PowerState.POWER_STATE_CRASHED : PowerState.POWER_STATE_SHUTOFF, reason });
    this.emit(uuid, "stopped", reason);
  }

  /** A domain someone defined by hand, outside Orbit. */
  addUnmanaged(uuid: string, name: string): void {
    this.commit(uuid.toLowerCase(), {
      spec: VmSpec.fromPartial({ vmUuid: uuid, name }), state: PowerState.POWER_STATE_RUNNING, reason: "", managed: false,
    });
  }

  has(vmUuid: string): boolean {
    return this.domains.has(vmUuid.toLowerCase());
  }
}
