// HA on the agent's side: writes the storage heartbeat every interval and fences the host when it
// can reach neither the manager nor its storage for self_fence_after_ms (fence-decision.ts): every
// Orbit-managed domain is powered off hard (virsh destroy: the domain and its disks stay), and no
// VM is started again until the manager is reached; the manager then decides what runs where.
//
// The manager may declare this host Down (and restart its HA VMs elsewhere) once its storage
// heartbeat is older than self_fence_after_ms plus a margin; this host has then fenced itself
// within self_fence_after_ms + 2 x the heartbeat interval (one tick late at most, plus a write
// that hangs until its timeout) plus the time the driver takes to power the domains off.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { ConflictError } from "#shared/errors.js";
import { PowerState, StopMode } from "#shared/protocol.js";
import type { Hypervisor } from "../drivers/hypervisor.js";
import { decideFence, type FenceDecision } from "./fence-decision.js";
import { withTimeout, type StorageHeartbeatWriter } from "./storage-heartbeat.js";

export const DEFAULT_STORAGE_HEARTBEAT_INTERVAL_MS = 2_000;
/** A heartbeat write gets at least this long before it counts as failed. */
const MIN_WRITE_TIMEOUT_MS = 1_000;

export interface HaSettings {
  selfFenceAfterMs: number;
  storageHeartbeatIntervalMs: number;
}

export interface SelfFencerOptions {
  hypervisor: Pick<Hypervisor, "listDomains" | "stopVm">;
  /** Undefined: no storage_heartbeat_dir configured (no heartbeat, never fences). */
  writer: StorageHeartbeatWriter | undefined;
  log: Logger;
  /**
   * Where the settings last told by the manager are kept, so an agent restarted while the host is
   * cut off still fences itself (it would otherwise wait forever for a manager to tell it).
   */
  settingsFile?: string | undefined;
  /**
   * Where the last manager contact and the last good heartbeat write are kept (at most once a
   * second), so an agent restarted (systemd) on a host that is still cut off counts its fence time
   * from when it really lost contact, not from its own start: the manager counts from then too.
   */
  contactFile?: string | undefined;
  now?: () => number;
}

export class SelfFencer {
  private readonly now: () => number;
  private settings: HaSettings = { selfFenceAfterMs: 0, storageHeartbeatIntervalMs: 0 };
  private lastManagerContactMs: number;
  private lastHeartbeatOkMs: number;
  private fencedAtMs: number | undefined;
  private storageFailing = false;
  private isolated = false;
  private warnedNoDir = false;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private ticking: Promise<void> | undefined;
  private contactSavedAtMs = 0;
  private firstTick = true;
  /** Power-offs under way, by VM: never issued twice at once. */
  private readonly poweringOff = new Map<string, Promise<void>>();

  constructor(private readonly o: SelfFencerOptions) {
    this.now = o.now ?? Date.now;
    // An agent that just started gets a whole window before it may fence, unless it kept the
    // times of its last contacts: then its window runs from those (its first tick writes the
    // heartbeat before deciding, so a host whose storage works never fences at start).
    const kept = this.loadContact();
    this.lastManagerContactMs = Math.min(this.now(), kept?.managerContactMs ?? Infinity);
    this.lastHeartbeatOkMs = Math.min(this.now(), kept?.heartbeatOkMs ?? Infinity);
    const saved = this.loadSettings();
    if (saved) this.settings = saved;
    if (o.writer) o.writer.timeoutMs = Math.max(this.intervalMs, MIN_WRITE_TIMEOUT_MS);
    if (!o.writer) o.log.info("no ha.storage_heartbeat_dir: this host writes no storage heartbeat and never fences itself");
    else o.log.info({ dir: o.writer.dir, selfFenceAfterMs: this.settings.selfFenceAfterMs }, "storage heartbeat on");
  }

  /** True while this host has fenced itself and not heard from the manager since. */
  get fenced(): boolean {
    return this.fencedAtMs !== undefined;
  }

  get intervalMs(): number {
    return this.settings.storageHeartbeatIntervalMs || DEFAULT_STORAGE_HEARTBEAT_INTERVAL_MS;
  }

  /** Anything came from the manager: it is reachable. */
  managerContact(): void {
    this.lastManagerContactMs = Math.max(this.lastManagerContactMs, this.now());
    this.saveContact();
    if (this.fencedAtMs !== undefined) void this.act(this.decide());
  }

  /** AgentSettings from the manager (registration or a change), applied at once and kept. */
  applySettings(s: HaSettings): void {
    const before = this.settings;
    this.settings = { selfFenceAfterMs: s.selfFenceAfterMs, storageHeartbeatIntervalMs: s.storageHeartbeatIntervalMs };
    if (this.o.writer) this.o.writer.timeoutMs = Math.max(this.intervalMs, MIN_WRITE_TIMEOUT_MS);
    if (before.selfFenceAfterMs === s.selfFenceAfterMs && before.storageHeartbeatIntervalMs === s.storageHeartbeatIntervalMs) return;
    this.saveSettings();
    if (!this.o.writer && s.selfFenceAfterMs > 0 && !this.warnedNoDir) {
      this.warnedNoDir = true;
      this.o.log.warn({ selfFenceAfterMs: s.selfFenceAfterMs }, "the manager asks for self-fencing but this host has no ha.storage_heartbeat_dir: it will never fence itself");
    }
    this.o.log.info({ selfFenceAfterMs: s.selfFenceAfterMs, storageHeartbeatIntervalMs: this.intervalMs }, "HA settings changed");
    if (this.running && before.storageHeartbeatIntervalMs !== s.storageHeartbeatIntervalMs) this.schedule(0);
  }

  /** Refuses a command that would run a VM while this host is fenced (ConflictError, state "self_fenced"). */
  refuseWhileFenced(what: string, vmUuid: string): void {
    if (this.fencedAtMs === undefined) return;
    throw new ConflictError(`${what} refused: this host fenced itself at ${new Date(this.fencedAtMs).toISOString()} and has not reached the manager since`, "self_fenced", { vmUuid });
  }

  start(): void {
    this.running = true;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.ticking;
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.ticking = this.tick().finally(() => { if (this.running) this.schedule(this.intervalMs); });
    }, ms);
    this.timer.unref();
  }

  /** One round: decide (a hung write must not delay a due fence), write the heartbeat, decide again. */
  async tick(): Promise<void> {
    if (!this.firstTick) await this.act(this.decide());
    this.firstTick = false;
    const w = this.o.writer;
    if (!w?.knowsHost) return;
    const r = await w.write();
    if (r.ok) {
      this.lastHeartbeatOkMs = Math.max(this.lastHeartbeatOkMs, r.atMs);
      this.saveContact();
      if (this.storageFailing) this.o.log.info({ file: w.file }, "storage heartbeat written again");
      this.storageFailing = false;
    } else if (!this.storageFailing) {
      this.storageFailing = true;
      this.o.log.warn({ file: w.file, error: r.error }, "storage heartbeat write failed");
    }
    await this.act(this.decide());
  }

  private decide(): FenceDecision {
    return decideFence({
      now: this.now(),
      selfFenceAfterMs: this.settings.selfFenceAfterMs,
      hasHeartbeatDir: this.o.writer !== undefined,
      lastManagerContactMs: this.lastManagerContactMs,
      lastHeartbeatOkMs: this.lastHeartbeatOkMs,
      fencedAtMs: this.fencedAtMs,
    });
  }

  private async act(d: FenceDecision): Promise<void> {
    switch (d.action) {
      case "off":
        return;
      case "watch": {
        // Both failing for more than a heartbeat interval: worth saying before the fence comes.
        const isolated = d.isolatedForMs > this.intervalMs * 2;
        if (isolated && !this.isolated) {
          this.o.log.warn({ isolatedForMs: d.isolatedForMs, selfFenceAfterMs: this.settings.selfFenceAfterMs },
            "cannot reach the manager nor write the storage heartbeat: this host fences itself if it lasts");
        }
        this.isolated = isolated;
        return;
      }
      case "fence":
        this.fencedAtMs = this.now();
        this.o.log.fatal({ isolatedForMs: d.isolatedForMs, selfFenceAfterMs: this.settings.selfFenceAfterMs },
          "SELF-FENCING: no manager and no storage heartbeat for too long; powering off every Orbit-managed VM (disks kept) and starting none until the manager is back");
        await this.powerOffManaged();
        return;
      case "stay-fenced":
        // A start that was already running when the fence came may have finished since.
        await this.powerOffManaged();
        return;
      case "unfence":
        this.o.log.warn({ fencedAt: new Date(this.fencedAtMs!).toISOString() }, "manager reached again: self-fencing lifted, the manager decides what runs");
        this.fencedAtMs = undefined;
        this.isolated = false;
        return;
    }
  }

  /**
   * virsh destroy of every running Orbit-managed domain, all at once. One that fails is logged
   * and tried again next tick. The tick waits at most an interval for them: a power-off stuck
   * behind the driver (libvirt serialises each domain's operations, and a snapshot hung on the
   * lost storage holds its domain) must not stop the heartbeat writes and the other VMs' fencing;
   * it is not issued again while it runs.
   */
  private async powerOffManaged(): Promise<void> {
    const wait = Math.max(this.intervalMs, MIN_WRITE_TIMEOUT_MS);
    let domains;
    try {
      domains = await withTimeout(this.o.hypervisor.listDomains(), wait, "listing the domains");
    } catch (e) {
      this.o.log.error({ err: (e as Error).message }, "self-fencing: cannot list the domains; trying again next tick");
      return;
    }
    const pending: Promise<void>[] = [];
    for (const d of domains) {
      if (!d.managed || d.powerState === PowerState.POWER_STATE_SHUTOFF) continue;
      let p = this.poweringOff.get(d.vmUuid);
      if (!p) {
        p = this.o.hypervisor.stopVm(d.vmUuid, { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 0 })
          .then(() => { this.o.log.fatal({ vm: d.vmUuid, name: d.name }, "self-fencing: VM powered off"); })
          .catch((e: unknown) => { this.o.log.error({ vm: d.vmUuid, err: (e as Error).message }, "self-fencing: could not power the VM off; trying again next tick"); })
          .finally(() => this.poweringOff.delete(d.vmUuid));
        this.poweringOff.set(d.vmUuid, p);
      }
      pending.push(p);
    }
    if (!pending.length) return;
    await withTimeout(Promise.all(pending), wait, "powering the VMs off").catch(() => {
      this.o.log.error({ vms: [...this.poweringOff.keys()] }, "self-fencing: VMs not powered off yet (their driver is busy); waiting for them");
    });
  }

  private loadContact(): { managerContactMs: number; heartbeatOkMs: number } | undefined {
    if (!this.o.contactFile) return undefined;
    try {
      const c = JSON.parse(readFileSync(this.o.contactFile, "utf8")) as { managerContactMs?: unknown; heartbeatOkMs?: unknown };
      if (typeof c.managerContactMs !== "number" || typeof c.heartbeatOkMs !== "number") return undefined;
      return { managerContactMs: c.managerContactMs, heartbeatOkMs: c.heartbeatOkMs };
    } catch {
      return undefined;
    }
  }

  private saveContact(): void {
    const f = this.o.contactFile;
    if (!f || this.now() - this.contactSavedAtMs < 1000) return;
    this.contactSavedAtMs = this.now();
    try {
      mkdirSync(path.dirname(f), { recursive: true });
      writeFileSync(`${f}.tmp`, JSON.stringify({ managerContactMs: this.lastManagerContactMs, heartbeatOkMs: this.lastHeartbeatOkMs }));
      renameSync(`${f}.tmp`, f);
    } catch (e) {
      this.o.log.warn({ file: f, err: (e as Error).message }, "could not keep the HA contact times");
    }
  }

  private loadSettings(): HaSettings | undefined {
    if (!this.o.settingsFile) return undefined;
    try {
      const s = JSON.parse(readFileSync(this.o.settingsFile, "utf8")) as Partial<HaSettings>;
      if (typeof s.selfFenceAfterMs !== "number" || typeof s.storageHeartbeatIntervalMs !== "number") return undefined;
      return { selfFenceAfterMs: s.selfFenceAfterMs, storageHeartbeatIntervalMs: s.storageHeartbeatIntervalMs };
    } catch {
      return undefined;
    }
  }

  private saveSettings(): void {
    const f = this.o.settingsFile;
    if (!f) return;
    try {
      mkdirSync(path.dirname(f), { recursive: true });
      writeFileSync(`${f}.tmp`, JSON.stringify(this.settings));
      renameSync(`${f}.tmp`, f);
    } catch (e) {
      this.o.log.warn({ file: f, err: (e as Error).message }, "could not keep the HA settings");
    }
  }
}
