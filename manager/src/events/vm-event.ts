// A VM's events: what happened to it and when, built from what is recorded anyway (the VM row,
// its state transitions and its jobs). The same builder feeds GET .../events and the callbacks,
// so an event has one id, one type and one wording wherever a client meets it.
import type { jobs, vmStateTransitions } from "../db/schema.js";

export type VmEventType = "created" | "state_changed" | "action_requested" | "action_succeeded" | "action_failed";

/** The VM an event is about (as it was when the event was built). */
export interface VmRef { id: number; uuid: string; name: string; accountId: number }

export interface VmEvent {
  /** Stable and unique: "vm:<id>:created", "transition:<id>", "job:<id>:<phase>". */
  id: string;
  type: VmEventType;
  vm: VmRef;
  at: Date;
  /** The user who acted: who created the VM or asked for the action; null for what Orbit did itself. */
  userId: number | null;
  message: string;
  reason: string;
  /** For state_changed. */
  state?: { from: string; to: string };
  /** For action_*: the job that carries the action. */
  action?: { jobId: number; name: string; error?: { code: string; message: string } };
}

type TransitionRow = typeof vmStateTransitions.$inferSelect;
type JobRow = typeof jobs.$inferSelect;

/** `userId`: who created it (the user of its deploy job). */
export function createdEvent(vm: VmRef & { createdAt: Date }, userId: number | null = null): VmEvent {
  return { id: `vm:${vm.id}:created`, type: "created", vm: ref(vm), at: vm.createdAt, userId, message: "Virtual machine created", reason: "" };
}

export function stateChangedEvent(vm: VmRef, t: TransitionRow): VmEvent {
  return {
    id: `transition:${t.id}`, type: "state_changed", vm: ref(vm), at: t.at, userId: null,
    message: `State changed from ${t.fromState} to ${t.toState}`, reason: t.cause,
    state: { from: t.fromState, to: t.toState },
  };
}

/** A job's kind without its resource prefix: "vm.deploy" → "deploy". */
export function actionName(kind: string): string {
  return kind.startsWith("vm.") ? kind.slice(3) : kind;
}

export type ActionPhase = "requested" | "succeeded" | "failed";

export function actionEvent(vm: VmRef, job: Pick<JobRow, "id" | "kind" | "createdAt" | "finishedAt" | "error"> & { userId?: number | null }, phase: ActionPhase, at?: Date): VmEvent {
  const name = actionName(job.kind);
  const when = at ?? (phase === "requested" ? job.createdAt : job.finishedAt ?? job.createdAt);
  const error = phase === "failed" && job.error ? { code: job.error.code, message: job.error.message } : undefined;
  return {
    id: `job:${job.id}:${phase}`, type: `action_${phase}`, vm: ref(vm), at: when, userId: job.userId ?? null,
    message: `Action ${name} ${phase}`, reason: error?.message ?? `job ${job.id}`,
    action: { jobId: job.id, name, ...(error ? { error } : {}) },
  };
}

function ref(vm: VmRef): VmRef {
  return { id: vm.id, uuid: vm.uuid, name: vm.name, accountId: vm.accountId };
}

const ORDER: Record<VmEventType, number> = { created: 0, action_requested: 1, state_changed: 2, action_succeeded: 3, action_failed: 3 };

/** Oldest first; at one instant a creation comes before the action it asked for, and that before its effects. */
export function byTime(a: VmEvent, b: VmEvent): number {
  return a.at.getTime() - b.at.getTime() || ORDER[a.type] - ORDER[b.type] || a.id.localeCompare(b.id, "en", { numeric: true });
}

/**
 * The event as a user may see it: the fleet's host names (a recorded cause may name the VM's
 * host) replaced, as users see their VM, not the fleet.
 */
export function withoutHostName(e: VmEvent, hostName: string | null | undefined): VmEvent {
  if (!hostName) return e;
  const scrub = (t: string) => t.split(`host ${hostName}`).join("its host").split(hostName).join("its host");
  return { ...e, message: scrub(e.message), reason: scrub(e.reason) };
}
