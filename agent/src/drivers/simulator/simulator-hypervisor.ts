// An in-memory hypervisor, like CloudStack's simulator: a whole fleet runs on one machine.
// It keeps the rules a real host enforces (memory runs out, names are unique, a missing
// domain is an error) so the manager meets the same failures it would meet on libvirt.
import { HypervisorError } from "#shared/errors.js";
import { PowerState, StopMode, type DomainStatus, type NumaCell, type VmSpec } from "#shared/protocol.js";
import type { DomainLifecycleEvent, Hypervisor, HypervisorHostFacts, StopOptions } from "../hypervisor.js";

export interface SimulatorOptions {
  hostUuid: string;
  hostname: string;
  cpus: number;
  memoryMib: number;
  numaCells?: number;
  startDelayMs?: number;
  /** Test hook: a reason to fail starting this spec, or undefined to start it. */
  failStart?: (spec: VmSpec) => string | undefined;
}

interface SimDomain {
  spec: VmSpec;
  state: PowerState;
  reason: string;
  managed: boolean;
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
  private readonly domains = new Map<string, SimDomain>();
  private readonly listeners = new Set<(e: DomainLifecycleEvent) => void>();
  /** How many times each operation really ran (tests check commands are not executed twice). */
  readonly calls = { start: 0, stop: 0, destroy: 0 };

  constructor(private readonly o: SimulatorOptions) {}

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

  private status(uuid: string, d: SimDomain): DomainStatus {
    return { vmUuid: uuid, name: d.spec.name, powerState: d.state, reason: d.reason, managed: d.managed };
  }

  private emit(vmUuid: string, event: string, detail: string): void {
    for (const l of this.listeners) l({ vmUuid, event, detail });
  }

  async startVm(spec: VmSpec): Promise<DomainStatus> {
    this.calls.start++;
    const uuid = spec.vmUuid.toLowerCase();
    let d = this.domains.get(uuid);
    if (d?.state === PowerState.POWER_STATE_RUNNING) return this.status(uuid, d);
    if (spec.memoryMib > this.o.memoryMib - this.usedMemoryMib()) {
      throw new HypervisorError(`cannot start ${spec.name}: ${spec.memoryMib} MiB requested, ${this.o.memoryMib - this.usedMemoryMib()} MiB free`, {
        virshError: "internal error: process exited while connecting to monitor: cannot allocate memory",
      });
    }
    const failure = this.o.failStart?.(spec);
    if (this.o.startDelayMs) await new Promise((r) => setTimeout(r, this.o.startDelayMs));
    if (failure) throw new HypervisorError(failure, { virshError: failure });
    d ??= { spec, state: PowerState.POWER_STATE_SHUTOFF, reason: "", managed: true };
    d.spec = spec;
    d.state = PowerState.POWER_STATE_RUNNING;
    d.reason = "booted";
    this.domains.set(uuid, d);
    this.emit(uuid, "started", "booted");
    return this.status(uuid, d);
  }

  async stopVm(vmUuid: string, opts: StopOptions): Promise<DomainStatus> {
    this.calls.stop++;
    const uuid = vmUuid.toLowerCase();
    const d = this.domains.get(uuid);
    if (!d) throw new HypervisorError(`domain ${vmUuid} not found`, { virshError: "Domain not found", code: "no_domain" });
    if (d.state !== PowerState.POWER_STATE_SHUTOFF) {
      d.state = PowerState.POWER_STATE_SHUTOFF;
      d.reason = opts.mode === StopMode.STOP_MODE_FORCE ? "destroyed" : "shutdown";
      this.emit(uuid, "stopped", d.reason);
    }
    return this.status(uuid, d);
  }

  async destroyVm(vmUuid: string): Promise<void> {
    this.calls.destroy++;
    const uuid = vmUuid.toLowerCase();
    const d = this.domains.get(uuid);
    if (!d) return;
    this.domains.delete(uuid);
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
    const d = this.domains.get(vmUuid.toLowerCase());
    if (!d) return;
    d.state = reason === "crashed" ? PowerState.POWER_STATE_CRASHED : PowerState.POWER_STATE_SHUTOFF;
    d.reason = reason;
    this.emit(vmUuid.toLowerCase(), "stopped", reason);
  }

  /** A domain someone defined by hand, outside Orbit. */
  addUnmanaged(uuid: string, name: string): void {
    this.domains.set(uuid.toLowerCase(), {
      spec: { vmUuid: uuid, name, memoryMib: 0 } as VmSpec, state: PowerState.POWER_STATE_RUNNING, reason: "", managed: false,
    });
  }

  has(vmUuid: string): boolean {
    return this.domains.has(vmUuid.toLowerCase());
  }
}
