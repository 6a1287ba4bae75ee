// Every change of a volume's status goes through here, so that a volume with a callback URL
// announces it (created, state_changed, deleted) in the transaction that makes the change.
import { randomUUID } from "node:crypto";
import { inArray } from "drizzle-orm";
import type { Db, Tx } from "../db/database.js";
import { volumes, type VolumeStatus } from "../db/schema.js";
import { enqueueVolumeCallback } from "../callbacks/callback-outbox.js";
import type { VolumeRef } from "../events/volume-event.js";

type VolumeSet = Partial<Pick<typeof volumes.$inferInsert, "hostId">>;

/**
 * Sets the volumes' status (and `set`'s columns); each volume whose status changes and that has a
 * callback URL gets a state_changed event naming `reason`. Setting the status it has already
 * announces nothing (a job step run again).
 */
export async function setVolumeStatus(tx: Tx, ids: number | number[], to: VolumeStatus, reason: string, set: VolumeSet = {}): Promise<void> {
  const list = Array.isArray(ids) ? ids : [ids];
  if (list.length === 0) return;
  const before = await tx.select({ id: volumes.id, uuid: volumes.uuid, name: volumes.name, accountId: volumes.accountId, status: volumes.status, url: volumes.callbackUrl })
    .from(volumes).where(inArray(volumes.id, list));
  await tx.update(volumes).set({ status: to, updatedAt: new Date(), ...set }).where(inArray(volumes.id, list));
  const at = new Date();
  for (const v of before) {
    if (v.status === to) continue;
    await enqueueVolumeCallback(tx, v.url, {
      id: `volume:${v.id}:status:${randomUUID()}`, type: "state_changed", volume: ref(v), at,
      message: `Volume status changed from ${v.status} to ${to}`, reason, state: { from: v.status, to },
    });
  }
}

/** A new volume's created event (nothing without a callback URL). */
export async function announceVolumeCreated(tx: Tx | Db, v: VolumeRef & { callbackUrl: string; createdAt: Date }): Promise<void> {
  await enqueueVolumeCallback(tx, v.callbackUrl, {
    id: `volume:${v.id}:created`, type: "created", volume: ref(v), at: v.createdAt, message: "Volume created", reason: "",
  });
}

/** A deleted volume's last event. */
export async function announceVolumeDeleted(tx: Tx, v: VolumeRef & { callbackUrl: string }, at: Date): Promise<void> {
  await enqueueVolumeCallback(tx, v.callbackUrl, {
    id: `volume:${v.id}:deleted`, type: "deleted", volume: ref(v), at, message: "Volume deleted", reason: "",
  });
}

function ref(v: VolumeRef): VolumeRef {
  return { id: v.id, uuid: v.uuid, name: v.name, accountId: v.accountId };
}
