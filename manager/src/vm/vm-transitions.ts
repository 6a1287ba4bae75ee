// Applies a VM state change inside a transaction: checks it against the state machine,
// records it with time and cause, and releases the VM's capacity (host and root disk's pool) in
// the same transaction when the new state holds none. The row lock, the check, the row's update
// and its history row are one statement; transitionVmNow runs a move that needs nothing more
// written with it as that statement alone (its own transaction).
import { eq, inArray, sql } from "drizzle-orm";
import { NotFoundError } from "#shared/errors.js";
import type { Db, Tx } from "../db/database.js";
import { allocations, gpuAllocations, ipAllocations, vms, vmStateTransitions } from "../db/schema.js";
import { enqueueVmCallback } from "../callbacks/callback-outbox.js";
import { stateChangedEvent } from "../events/vm-event.js";
import { touchHost } from "../hosts/host-generation.js";
import { addressesFreed } from "../network/ipam.js";
import { releaseRootDisk } from "../storage/root-disks.js";
import { rowFromJson } from "../db/json-rows.js";
import { assertTransition, canTransition, holdsCapacity, isVmState, VM_STATES, type VmState } from "./vm-state-machine.js";

type VmRow = typeof vms.$inferSelect;

export interface TransitionOptions {
  reason?: string;
  powerState?: string;
  /** Only apply when the VM is currently in one of these states; otherwise return null. */
  onlyFrom?: readonly VmState[];
  /**
   * Keep the VM's allocations even though the new state holds none by default: the host's side is
   * unknown (agent unreachable, destroy failed), so the domain may still be using them.
   */
  keepCapacity?: boolean;
}

export async function transitionVm(
  tx: Tx | Db, vmId: number, to: VmState, cause: string, opts: TransitionOptions = {},
): Promise<{ from: VmState; to: VmState; vm: VmRow } | null> {
  const moved = await moveVm(tx, vmId, to, cause, opts);
  // ("callback" is only answered with noCallback.)
  if (moved === "fallback" || moved === "callback") return transitionVmStepwise(tx, vmId, to, cause, opts);
  if (moved === null) return null;
  const { from, vm, recorded } = moved;
  await afterMove(tx, vm, to, recorded, opts);
  return { from, to, vm };
}

/**
 * Outside a transaction (`db`): the move alone, one statement and one commit, when it needs
 * nothing else written with it (the VM has no callback URL, the new state holds capacity, it is
 * not Destroyed); otherwise in a transaction, as transitionVm. Same answer as transitionVm.
 */
export async function transitionVmNow(
  db: Db, vmId: number, to: VmState, cause: string, opts: TransitionOptions = {},
): Promise<{ from: VmState; to: VmState; vm: VmRow } | null> {
  if (to === "Destroyed" || (!holdsCapacity(to) && !opts.keepCapacity)) return db.transaction((tx) => transitionVm(tx, vmId, to, cause, opts));
  const moved = await moveVm(db, vmId, to, cause, opts, true);
  if (moved === "fallback" || moved === "callback") return db.transaction((tx) => transitionVm(tx, vmId, to, cause, opts));
  if (moved === null) return null;
  return { from: moved.from, to, vm: moved.vm };
}

/**
 * The VM's row lock, the state check, the row's update and its history row, as ONE statement.
 * null: not applied (onlyFrom, or already there); "fallback": a stored state the statement does
 * not name (not a VmState) that the state machine would take as Unknown: the stepwise path
 * decides; "callback" (noCallback): the VM has a callback URL, nothing was written.
 */
async function moveVm(
  tx: Tx | Db, vmId: number, to: VmState, cause: string, opts: TransitionOptions, noCallback = false,
): Promise<{ from: VmState; vm: VmRow; recorded: typeof vmStateTransitions.$inferSelect } | null | "fallback" | "callback"> {
  // The states it may move from: the state machine's, narrowed by onlyFrom; never to itself.
  const allowed = VM_STATES.filter((s) => s !== to && canTransition(s, to) && (!opts.onlyFrom || opts.onlyFrom.includes(s)));
  const now = new Date();
  const res = (await tx.execute(sql`
    with prev as (select id, state, callback_url from vms where id = ${vmId} for update),
    ok as (
      select * from prev where state in (select jsonb_array_elements_text(${JSON.stringify(allowed)}::jsonb))
      ${noCallback ? sql`and callback_url = ''` : sql``}),
    u as (
      update vms set state = ${to}, state_reason = ${opts.reason ?? ""},
        power_state = coalesce(${opts.powerState || null}::text, vms.power_state), updated_at = ${now}::timestamptz,
        deleted_at = case when ${to} = 'Destroyed' then ${now}::timestamptz else vms.deleted_at end,
        -- Any way out of Stopped (a user's start or delete, HA's own restart) ends a pending crash restart (ha/crash-restarts.ts).
        crash_restart_due_at = case when ok.state = 'Stopped' then null else vms.crash_restart_due_at end
      from ok where vms.id = ok.id
      returning vms.*, ok.state as from_state),
    t as (
      insert into vm_state_transitions (vm_id, from_state, to_state, cause, at)
      select id, from_state, ${to}::text, ${cause}::text, ${now}::timestamptz from u returning *)
    select prev.state as prev_state, prev.callback_url as prev_callback_url,
           (select row_to_json(u) from u) as vm, (select row_to_json(t) from t) as recorded
    from (select 1) one left join prev on true`)) as unknown as {
    rows: { prev_state: string | null; prev_callback_url: string | null; vm: unknown; recorded: unknown }[];
  };
  const r = res.rows[0]!;
  if (r.prev_state === null) throw new NotFoundError("virtual machine", vmId);
  const json = (v: unknown) => (typeof v === "string" ? JSON.parse(v) : v) as Record<string, unknown> | null;
  const vm = json(r.vm);
  const recorded = json(r.recorded);
  if (vm && recorded) {
    return { from: r.prev_state as VmState, vm: rowFromJson(vms, vm), recorded: rowFromJson(vmStateTransitions, recorded) };
  }
  const from = isVmState(r.prev_state) ? r.prev_state : "Unknown";
  if (opts.onlyFrom && !opts.onlyFrom.includes(from)) return null;
  if (from === to) return null;
  assertTransition(from, to, `virtual machine ${vmId}`);
  if (noCallback && r.prev_callback_url !== "") return "callback";
  return "fallback";
}

/** What a move writes besides the row and its history, in the move's transaction. */
async function afterMove(
  tx: Tx | Db, vm: Pick<VmRow, "id" | "callbackUrl">, to: VmState,
  recorded: typeof vmStateTransitions.$inferSelect, opts: TransitionOptions,
): Promise<void> {
  const vmId = vm.id;
  // The VM's callback announcing the change commits with it, or not at all (none without a URL:
  // the row is locked, so its URL is the one the outbox would read).
  if (vm.callbackUrl !== "") await enqueueVmCallback(tx, vmId, (v) => stateChangedEvent(v, recorded));
  if (!holdsCapacity(to) && !opts.keepCapacity) {
    await tx.delete(gpuAllocations).where(eq(gpuAllocations.vmId, vmId));
    const released = await tx.delete(allocations).where(eq(allocations.vmId, vmId)).returning({ hostId: allocations.hostId });
    // Freed capacity: a new generation tells cached snapshots to re-read the host.
    for (const r of released) await touchHost(tx, r.hostId);
    // Its root disk's space too (a destroyed VM's disk is gone; a refused deploy never made it).
    await releaseRootDisk(tx, vmId);
  }
  // Its addresses (fixed and floating) are free again once the domain is gone.
  if (to === "Destroyed") {
    addressesFreed(await tx.delete(ipAllocations).where(inArray(ipAllocations.vmUuid, tx.select({ uuid: vms.uuid }).from(vms).where(eq(vms.id, vmId))))
      .returning({ networkId: ipAllocations.networkId, kind: ipAllocations.kind, address: ipAllocations.address }));
  }
}

/** The statement by statement path, for a stored state that is not a VmState (taken as Unknown). */
async function transitionVmStepwise(
  tx: Tx | Db, vmId: number, to: VmState, cause: string, opts: TransitionOptions = {},
): Promise<{ from: VmState; to: VmState; vm: VmRow } | null> {
  const [vm] = await tx.select({ state: vms.state, callbackUrl: vms.callbackUrl }).from(vms).where(eq(vms.id, vmId)).for("update");
  if (!vm) throw new NotFoundError("virtual machine", vmId);
  const from = isVmState(vm.state) ? vm.state : "Unknown";
  if (opts.onlyFrom && !opts.onlyFrom.includes(from)) return null;
  if (from === to) return null;
  assertTransition(from, to, `virtual machine ${vmId}`);
  const now = new Date();
  const [row] = await tx.update(vms).set({
    state: to,
    stateReason: opts.reason ?? "",
    ...(opts.powerState ? { powerState: opts.powerState } : {}),
    updatedAt: now,
    ...(to === "Destroyed" ? { deletedAt: now } : {}),
    // Any way out of Stopped (a user's start or delete, HA's own restart) ends a pending crash restart (ha/crash-restarts.ts).
    ...(from === "Stopped" ? { crashRestartDueAt: null } : {}),
  }).where(eq(vms.id, vmId)).returning();
  const [recorded] = await tx.insert(vmStateTransitions).values({ vmId, fromState: from, toState: to, cause, at: now }).returning();
  await afterMove(tx, { id: vmId, callbackUrl: vm.callbackUrl }, to, recorded!, opts);
  return { from, to, vm: row! };
}
