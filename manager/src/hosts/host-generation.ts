// A host's generation: a number every change to what the host can take replaces (placements,
// releases, new facts, state, resource state). Cached placement snapshots compare it to know
// which hosts to re-read, and the placement commit checks it under lock. Every bump goes
// through here.
import { randomInt } from "node:crypto";
import { eq } from "drizzle-orm";
import type { Db, Tx } from "../db/database.js";
import { hosts } from "../db/schema.js";

/**
 * A host's new generation: random rather than + 1, so that equal generations mean the same
 * commit even when one of ours rolled back and someone else's landed instead.
 */
export function generationToken(): number {
  return randomInt(1, 2 ** 31 - 1);
}

/** Gives a host a new generation (its capacity changed outside a placement: a release). */
export async function touchHost(tx: Tx | Db, hostId: number): Promise<void> {
  await tx.update(hosts).set({ generation: generationToken() }).where(eq(hosts.id, hostId));
}
