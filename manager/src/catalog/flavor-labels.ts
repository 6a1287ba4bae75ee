// A flavor's labels (Hyperstack lists each with an id): read for many flavors at once, and
// replaced as a list by admins, keeping the ids of labels that stay.
import { and, asc, eq, inArray, notInArray } from "drizzle-orm";
import type { Db, Tx } from "../db/database.js";
import { flavorLabels } from "../db/schema.js";

export interface FlavorLabel { id: number; label: string }

/** Each flavor's labels (in the order they were added), by flavor id; flavors without any are absent. */
export async function labelsOf(db: Db | Tx, flavorIds: readonly number[]): Promise<Map<number, FlavorLabel[]>> {
  const out = new Map<number, FlavorLabel[]>();
  if (flavorIds.length === 0) return out;
  const rows = await db.select().from(flavorLabels).where(inArray(flavorLabels.flavorId, [...new Set(flavorIds)])).orderBy(asc(flavorLabels.id));
  for (const r of rows) {
    const list = out.get(r.flavorId) ?? [];
    list.push({ id: r.id, label: r.label });
    out.set(r.flavorId, list);
  }
  return out;
}

/** Makes the flavor's labels exactly these (duplicates once); labels kept keep their id. */
export async function setLabels(tx: Db | Tx, flavorId: number, labels: readonly string[]): Promise<void> {
  const wanted = [...new Set(labels)];
  await tx.delete(flavorLabels).where(and(eq(flavorLabels.flavorId, flavorId),
    wanted.length > 0 ? notInArray(flavorLabels.label, wanted) : undefined));
  if (wanted.length > 0) {
    await tx.insert(flavorLabels).values(wanted.map((label) => ({ flavorId, label }))).onConflictDoNothing();
  }
}
