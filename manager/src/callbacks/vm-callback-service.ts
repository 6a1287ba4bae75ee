// A VM's callback URL (Hyperstack's attach/update/delete-callback) and its deliveries as the
// user sees them. Scoped like the VM: another account's VM is not found. Changing the URL
// sends the callbacks still pending to the new one; removing it cancels them.
import { and, desc, eq, inArray } from "drizzle-orm";
import { ConflictError, NotFoundError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { callbackAttempts, callbackDeliveries, vms, type CallbackDeliveryStatus } from "../db/schema.js";
import { visibleVm, type EventCaller } from "../events/vm-event-service.js";
import { validateCallbackUrl, type CallbackAddressPolicy } from "./callback-url.js";

export interface CallbackAttempt { attempt: number; url: string; startedAt: Date; durationMs: number; statusCode: number | null; error: string | null }

export interface CallbackDelivery {
  id: number;
  eventId: string;
  eventType: string;
  url: string;
  status: CallbackDeliveryStatus;
  attempts: CallbackAttempt[];
  nextAttemptAt: Date | null;
  createdAt: Date;
  finishedAt: Date | null;
}

/** The newest deliveries shown per VM. */
export const MAX_DELIVERIES_SHOWN = 200;

export class VmCallbackService {
  constructor(private readonly db: Db, private readonly policy: () => CallbackAddressPolicy) {}

  /** Sets the URL of a VM that has none (the same URL again is accepted as is). */
  async attach(caller: EventCaller, vmId: number, rawUrl: string): Promise<string> {
    const url = validateCallbackUrl(rawUrl, "url", this.policy());
    const vm = await visibleVm(this.db, caller, vmId);
    if (vm.callbackUrl !== "" && vm.callbackUrl !== url) {
      throw new ConflictError(`virtual machine ${vmId} already has a callback URL: change it with PUT .../update-callback or remove it with DELETE .../delete-callback`);
    }
    await this.setUrl(vmId, url);
    return url;
  }

  /** Replaces the URL of a VM that has one; its pending callbacks go to the new URL. */
  async update(caller: EventCaller, vmId: number, rawUrl: string): Promise<string> {
    const url = validateCallbackUrl(rawUrl, "url", this.policy());
    const vm = await visibleVm(this.db, caller, vmId);
    if (vm.callbackUrl === "") throw new ConflictError(`virtual machine ${vmId} has no callback URL: attach one with POST .../attach-callback`);
    await this.setUrl(vmId, url);
    return url;
  }

  /** Removes the URL; callbacks not yet delivered are cancelled. */
  async remove(caller: EventCaller, vmId: number): Promise<void> {
    const vm = await visibleVm(this.db, caller, vmId);
    if (vm.callbackUrl === "") throw new NotFoundError("callback URL", vmId, `virtual machine ${vmId} has no callback URL`);
    await this.setUrl(vmId, "");
  }

  private async setUrl(vmId: number, url: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.update(vms).set({ callbackUrl: url, updatedAt: new Date() }).where(eq(vms.id, vmId));
      const pending = and(eq(callbackDeliveries.vmId, vmId), eq(callbackDeliveries.status, "pending"));
      if (url === "") await tx.update(callbackDeliveries).set({ status: "cancelled", finishedAt: new Date() }).where(pending);
      else await tx.update(callbackDeliveries).set({ url }).where(pending);
    });
  }

  /** The VM's deliveries, newest first, each with its attempts (oldest first). */
  async deliveries(caller: EventCaller, vmId: number): Promise<CallbackDelivery[]> {
    await visibleVm(this.db, caller, vmId);
    const rows = await this.db.select().from(callbackDeliveries).where(eq(callbackDeliveries.vmId, vmId))
      .orderBy(desc(callbackDeliveries.id)).limit(MAX_DELIVERIES_SHOWN);
    const attempts = rows.length === 0 ? [] : await this.db.select().from(callbackAttempts)
      .where(inArray(callbackAttempts.deliveryId, rows.map((r) => r.id))).orderBy(callbackAttempts.id);
    return rows.map((r) => ({
      id: r.id, eventId: r.eventId, eventType: r.eventType, url: r.url, status: r.status,
      attempts: attempts.filter((a) => a.deliveryId === r.id).map((a) => ({
        attempt: a.attempt, url: a.url, startedAt: a.startedAt, durationMs: a.durationMs, statusCode: a.statusCode, error: a.error,
      })),
      nextAttemptAt: r.status === "pending" ? r.nextAttemptAt : null,
      createdAt: r.createdAt, finishedAt: r.finishedAt,
    }));
  }
}
