// Admin migration of a VM to another host (CloudStack's findHostsForMigration / migrateVirtualMachine):
// which hosts could take it and why the others cannot, and the start of a migration (its
// destination reserved in the same transaction, the vm.migrate job queued) and its cancel.
import { OrbitError } from "#shared/errors.js";
import type { MigrationMode } from "./migration-rules.js";

export interface MigrationHostCandidate {
  hostId: number;
  hostName: string;
  suitable: boolean;
  /** Why it cannot take the VM (allocator's reasons and migration's own), empty when suitable. */
  reasons: { code: string; message: string }[];
}

export interface MigrateRequest {
  target: number | "auto";
  mode?: MigrationMode | "auto";
  storageMotion?: boolean;
  /** Mode auto may stop a VM that cannot move live (passthrough GPUs) and move it cold. */
  allowCold?: boolean;
}

export interface MigrationStarted { jobId: number; migrationId: number; destinationHostId: number }

export interface MigrationActor { userId: number | null; accountId: number }

export class MigrationService {
  /** Every other host with whether it can take the VM, and for those that cannot, why. */
  async findHosts(_vmId: number): Promise<{ vmId: number; sourceHostId: number; hosts: MigrationHostCandidate[] }> {
    throw new OrbitError("unsupported", "migration is not wired yet");
  }

  /** Reserves the destination and queues vm.migrate; ConflictError / InvalidArgumentError with a reason code. */
  async migrate(_actor: MigrationActor, _vmId: number, _req: MigrateRequest): Promise<MigrationStarted> {
    throw new OrbitError("unsupported", "migration is not wired yet");
  }

  /** Stops the VM's running migration: it stays on its source. */
  async cancel(_vmId: number): Promise<{ migrationId: number; jobId: number }> {
    throw new OrbitError("unsupported", "migration is not wired yet");
  }
}
