// IPAM: gives addresses of a range to VMs, never one address twice. The unique index on
// (network, address) decides between concurrent creates that picked the same address: the loser's
// row is not written and it picks again among what is still free. Reservations are keyed by the
// VM's uuid, so they can be made before the placement commit writes the VM; a create that is
// refused releases them, and those a crashed manager left behind (no VM after STALE_AFTER) are
// swept by the next reservation in their network.
import { and, eq, inArray, sql } from "drizzle-orm";
import { ConflictError, OrbitError } from "#shared/errors.js";
import type { Db, Tx } from "../db/database.js";
import { ipAllocations, type IpAllocationKind } from "../db/schema.js";
import { intToIp, ipToInt } from "./cidr.js";

const STALE_AFTER = "15 minutes";
const MAX_ROUNDS = 50;

export interface ReserveInput {
  networkId: number;
  kind: IpAllocationKind;
  /** Inclusive range of the addresses to give, as integers. */
  range: { first: number; last: number };
  vmUuids: readonly string[];
  /** What the 409 names when the range is full, e.g. `environment "prod" network 10.128.0.0/24`. */
  what: string;
}

/** Reserves one address per VM (uuid → address). All or nothing: a full range is a 409 and leaves nothing reserved. */
export async function reserveAddresses(db: Db | Tx, input: ReserveInput): Promise<Map<string, string>> {
  const got = new Map<string, string>();
  const uuids = input.vmUuids.map((u) => u.toLowerCase());
  await sweepStale(db, input.networkId);
  try {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const want = uuids.filter((u) => !got.has(u));
      if (want.length === 0) return got;
      const used = new Set((await db.select({ a: ipAllocations.address }).from(ipAllocations)
        .where(eq(ipAllocations.networkId, input.networkId))).map((r) => ipToInt(r.a)));
      // The lowest free addresses first; after a collision, spread over a wider window so that
      // concurrent creates stop picking the same ones.
      const window = round === 0 ? want.length : want.length * 4;
      const free: number[] = [];
      for (let n = input.range.first; n <= input.range.last && free.length < window; n++) if (!used.has(n)) free.push(n);
      if (free.length < want.length) {
        const size = input.range.last - input.range.first + 1;
        throw new ConflictError(`${input.what} has no free address for ${want.length} more VM(s): ${size - free.length} of ${size} are in use`,
          undefined, { network_id: input.networkId, kind: input.kind, free: free.length, requested: want.length });
      }
      const picked = round === 0 ? free : shuffle(free).slice(0, want.length);
      const written = await db.insert(ipAllocations)
        .values(want.map((vmUuid, i) => ({ networkId: input.networkId, kind: input.kind, address: intToIp(picked[i]!), vmUuid })))
        .onConflictDoNothing({ target: [ipAllocations.networkId, ipAllocations.address] })
        .returning({ vmUuid: ipAllocations.vmUuid, address: ipAllocations.address });
      for (const w of written) got.set(w.vmUuid, w.address);
    }
    throw new OrbitError("conflict", `${input.what}: address allocation kept colliding with concurrent creates`, { retryable: true });
  } catch (e) {
    if (got.size > 0) await releaseAddresses(db, [...got.keys()], input.kind);
    throw e;
  }
}

/** Releases the VMs' addresses (of one kind, or all). */
export async function releaseAddresses(db: Db | Tx, vmUuids: readonly string[], kind?: IpAllocationKind): Promise<void> {
  if (vmUuids.length === 0) return;
  await db.delete(ipAllocations).where(and(inArray(ipAllocations.vmUuid, vmUuids.map((u) => u.toLowerCase())),
    kind === undefined ? undefined : eq(ipAllocations.kind, kind)));
}

/** Releases the reservations of VMs that were never written (a refused create), keeping any VM's that exists. */
export async function releaseUnplaced(db: Db | Tx, vmUuids: readonly string[]): Promise<void> {
  if (vmUuids.length === 0) return;
  await db.delete(ipAllocations).where(and(inArray(ipAllocations.vmUuid, vmUuids.map((u) => u.toLowerCase())),
    sql`not exists (select 1 from vms where vms.uuid = ${ipAllocations.vmUuid})`));
}

/** Reservations whose create never wrote its VM (the manager died in between). */
async function sweepStale(db: Db | Tx, networkId: number): Promise<void> {
  await db.delete(ipAllocations).where(and(eq(ipAllocations.networkId, networkId),
    sql`${ipAllocations.createdAt} < now() - ${STALE_AFTER}::interval`,
    sql`not exists (select 1 from vms where vms.uuid = ${ipAllocations.vmUuid})`));
}

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
