// What a simulated host keeps on disk: its domains (definition and power state), so they outlive
// the process as a real host's domains outlive its agent. One JSON file per host, replaced
// atomically (write a temporary file, fsync, rename) so a crash leaves the old or the new state.
import { randomUUID } from "node:crypto";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { HypervisorError } from "#shared/errors.js";
import { PowerState, VmSpec, powerStateFromJSON, powerStateToJSON } from "#shared/protocol.js";

export const SIMULATOR_STATE_FILE = "simulator-domains.json";

/** A disk attached after the definition (capability "disks"). */
export interface SimulatedDisk {
  targetDev: string;
  sourcePath: string;
  format: string;
  bus: "virtio" | "scsi";
  serial: string;
  sizeGib: number;
}

/** An owned disk the simulator made (capability "disks"): from what, and a token standing for its content. */
export interface SimulatedOwnedDisk {
  origin: "overlay" | "copy" | "blank";
  /** The backing image of an overlay, "<vm uuid>/<disk id>" of a copy. */
  from: string;
  content: string;
}

export interface SimulatedDomain {
  spec: VmSpec;
  state: PowerState;
  reason: string;
  managed: boolean;
  /** Hibernated: its memory is saved, and the next start (or restore) continues from it. */
  managedSave?: boolean | undefined;
  attachedDisks?: SimulatedDisk[] | undefined;
}

const DiskSchema = z.object({
  targetDev: z.string().min(1),
  sourcePath: z.string().min(1),
  format: z.string(),
  bus: z.enum(["virtio", "scsi"]),
  serial: z.string(),
  sizeGib: z.number().nonnegative(),
});

const FileSchema = z.object({
  version: z.literal(1),
  hostUuid: z.string().min(1),
  domains: z.array(z.object({
    uuid: z.string().min(1),
    spec: z.record(z.string(), z.unknown()),
    state: z.string().refine((s) => powerStateFromJSON(s) !== PowerState.UNRECOGNIZED, { message: "unknown power state" }),
    reason: z.string(),
    managed: z.boolean(),
    // Added with the capabilities; files written before have neither.
    managedSave: z.boolean().optional(),
    attachedDisks: z.array(DiskSchema).optional(),
  })),
});

export interface SimulatorState {
  hostUuid: string;
  domains: Map<string, SimulatedDomain>;
}

export class SimulatorStateFile {
  readonly file: string;

  constructor(stateDir: string) {
    this.file = path.join(stateDir, SIMULATOR_STATE_FILE);
  }

  /** The saved state, or undefined when this host never saved any. A damaged file is an error, never an empty host. */
  load(): SimulatorState | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new HypervisorError(`simulator state ${this.file}: cannot read: ${(e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new HypervisorError(`simulator state ${this.file}: invalid JSON (${(e as Error).message}); move it away to start this host empty`);
    }
    const parsed = FileSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new HypervisorError(`simulator state ${this.file}: ${issue.path.join(".") || "(top level)"}: ${issue.message}; move it away to start this host empty`);
    }
    const domains = new Map<string, SimulatedDomain>();
    for (const d of parsed.data.domains) {
      domains.set(d.uuid, {
        spec: VmSpec.fromJSON(d.spec), state: powerStateFromJSON(d.state), reason: d.reason, managed: d.managed,
        managedSave: d.managedSave, attachedDisks: d.attachedDisks,
      });
    }
    return { hostUuid: parsed.data.hostUuid, domains };
  }

  /** Throws a retryable HypervisorError naming the file when it cannot be written (the old state stays). */
  save(state: SimulatorState): void {
    try {
      this.write(state);
    } catch (e) {
      throw new HypervisorError(`simulator state ${this.file}: cannot save: ${(e as Error).message}`, { retryable: true });
    }
  }

  private write(state: SimulatorState): void {
    const json = {
      version: 1,
      hostUuid: state.hostUuid,
      domains: [...state.domains].map(([uuid, d]) => ({
        uuid, spec: VmSpec.toJSON(d.spec), state: powerStateToJSON(d.state), reason: d.reason, managed: d.managed,
        ...(d.managedSave ? { managedSave: true } : {}), ...(d.attachedDisks?.length ? { attachedDisks: d.attachedDisks } : {}),
      })),
    };
    mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, JSON.stringify(json, null, 2) + "\n");
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }
}

export const SIMULATOR_BOOT_ID_FILE = "simulator-boot-id";

/**
 * The simulated host's boot id. With a state dir it is kept there, like the domains: a new agent
 * process on the same host is not a reboot. Without one, every process is a new boot.
 */
export function simulatedBootId(stateDir: string | undefined): string {
  if (!stateDir) return randomUUID();
  const file = path.join(stateDir, SIMULATOR_BOOT_ID_FILE);
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const id = randomUUID();
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(file, id + "\n");
  return id;
}

/** Power-cycles a simulated host on disk: its domains are gone and its next boot id is new. */
export function rebootSimulatedHost(stateDir: string): void {
  rmSync(path.join(stateDir, SIMULATOR_STATE_FILE), { force: true });
  rmSync(path.join(stateDir, SIMULATOR_BOOT_ID_FILE), { force: true });
}
