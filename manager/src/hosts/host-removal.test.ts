// Removing a host: the states it may be removed from, what keeps it (VMs, a migration's
// reservation, local volumes), and what removal does (row kept and hidden, GPUs not present,
// credentials revoked, maintenance ended).
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { gpus, hostMaintenances, hosts, vmMigrations, vms } from "../db/schema.js";
import { seedFleet, sqlRows, type FixtureIds } from "../placement/testing/placement-fixture.js";
import { HostRemoval } from "./host-removal.js";
import { HostService } from "./host-service.js";

let database: Database;
let ids: FixtureIds;
let h1: number;
let h2: number;
beforeAll(async () => {
  database = await openTestDatabase();
  ids = await seedFleet(database.db, { hosts: 2, cpus: 16, memoryMib: 32768, reserveMib: 0, gpuHosts: ["h1"], gpusPerHost: 1 });
  const rows = await sqlRows<{ id: number }>(database.db, sql`select id from hosts order by name`);
  h1 = rows[0]!.id;
  h2 = rows[1]!.id;
});
afterAll(async () => { await database?.close(); });

const db = () => database.db;

describe("HostRemoval", () => {
  it("refuses an Enabled host that is Up, naming both states", async () => {
    const removal = new HostRemoval(db(), async () => [], () => {});
    await expect(removal.remove(h1)).rejects.toMatchObject({ code: "conflict", message: expect.stringContaining("is Enabled and Up"), details: { state: "Enabled", host_state: "Up" } });
  });

  it("refuses a host holding a stopped VM, or the destination of a migration under way, naming the VMs", async () => {
    const removal = new HostRemoval(db(), async () => [], () => {});
    await db().update(hosts).set({ resourceState: "Disabled" }).where(eq(hosts.id, h1));
    const [vm] = await db().insert(vms).values({
      uuid: randomUUID(), name: "s", accountId: ids.accountId, environmentId: ids.envId, flavorId: ids.flavorId, imageId: ids.imageId,
      state: "Stopped", vcpus: 1, memoryMib: 1, hostId: h1,
    }).returning({ id: vms.id });
    await expect(removal.remove(h1)).rejects.toMatchObject({ message: expect.stringContaining(`VMs ${vm!.id} (Stopped)`), details: { vm_ids: [vm!.id] } });
    // The VM moves to h2 but its migration back to h1 is under way: h1 holds its reservation.
    await db().update(vms).set({ hostId: h2 }).where(eq(vms.id, vm!.id));
    const [m] = await db().insert(vmMigrations).values({ vmId: vm!.id, sourceHostId: h2, destinationHostId: h1, mode: "cold", reservedVcpus: 1, reservedMemoryMib: 1 }).returning({ id: vmMigrations.id });
    await expect(removal.remove(h1)).rejects.toMatchObject({ message: expect.stringContaining(`capacity reserved for VMs ${vm!.id}`), details: { reserved_for_vm_ids: [vm!.id] } });
    await db().update(vmMigrations).set({ state: "failed" }).where(eq(vmMigrations.id, m!.id));
  });

  it("removes an empty Disabled host: kept and hidden, GPUs not present, maintenance ended, credentials revoked, authentication refused", async () => {
    const revoked: number[] = [];
    const removal = new HostRemoval(db(), async (id) => { revoked.push(id); return ["ab"]; }, () => {});
    await db().insert(hostMaintenances).values({ hostId: h1 });
    const [h] = await db().select({ uuid: hosts.uuid }).from(hosts).where(eq(hosts.id, h1));
    expect(await removal.remove(h1)).toEqual({ hostId: h1, uuid: h!.uuid, revoked: ["ab"] });
    expect(revoked).toEqual([h1]);
    const [row] = await db().select().from(hosts).where(eq(hosts.id, h1));
    expect(row!.removedAt).not.toBeNull();
    expect((await db().select({ present: gpus.present }).from(gpus).where(eq(gpus.hostId, h1))).every((g) => !g.present)).toBe(true);
    expect((await db().select().from(hostMaintenances).where(eq(hostMaintenances.hostId, h1)))[0]).toMatchObject({ endedBy: "removed" });
    const service = new HostService(db(), () => 0);
    expect((await service.list()).map((x) => x.id)).toEqual([h2]);
    await expect(service.authenticate(h!.uuid, "x")).rejects.toMatchObject({ code: "unauthenticated", message: expect.stringContaining("was removed from this manager") });
    await expect(removal.remove(h1)).rejects.toMatchObject({ code: "not_found" });
  });
});
