// What host maintenance needs of the migration service (migration/migration-service.ts): move one
// VM off its host, to a host the allocator picks. Maintenance codes against this shape only, so it
// is tested with a fake and wired to the real service in manager.ts.

/** Who asked: the admin who started the maintenance (the migration's job and events name them). */
export interface MoveActor { accountId: number; userId: number | null }

export interface MoveOptions {
  target: number | "auto";
  mode?: "live" | "cold" | "auto";
  storageMotion?: boolean;
  allowCold?: boolean;
}

/** A migration started: its job (whose status and progress maintenance follows) and record. */
export interface MoveStarted { jobId: number; migrationId: number; destinationHostId: number }

export interface VmMover {
  /**
   * Starts moving the VM. Refusals (a passthrough GPU VM asked to move live, no suitable host, a
   * stopped VM on local storage) are ConflictError / InvalidArgumentError / InsufficientCapacityError
   * with a reason: maintenance shows them and waits or leaves the VM, it does not fail on them.
   */
  migrate(actor: MoveActor, vmId: number, options: MoveOptions): Promise<MoveStarted>;
}

