// A VM's attached volumes in its jobs: a start's spec lists them as disks the VM does not own
// (so a stop/start keeps them and a destroy leaves their files), "attaching" ones not yet; a
// destroy detaches them (available again), or deletes them when the delete's recurse asks.
import { randomUUID } from "node:crypto";
import { eq, inArray } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PowerState, type Command } from "#shared/protocol.js";
import { openTestDatabase, type Database } from "../db/database.js";
import { hosts, images, jobs, storagePools, vms, volumeAttachments, volumes } from "../db/schema.js";
import { seedFleet, type FixtureIds } from "../placement/testing/placement-fixture.js";
import type { JobRow } from "./job-runner.js";
import { deletesVolumes, vmDestroyJob } from "./vm-destroy.job.js";
import { vmPowerJob } from "./vm-power.job.js";

let database: Database;
let ids: FixtureIds;
let hostId: number;
let poolId: number;
beforeAll(async () => {
  database = await openTestDatabase();
  ids = await seedFleet(database.db, { hosts: 1, cpus: 16, memoryMib: 32768, reserveMib: 0, gpuHosts: ["none"], gpusPerHost: 1 });
  const [h] = await database.db.select().from(hosts).limit(1);
  hostId = h!.id;
  const [p] = await database.db.insert(storagePools).values({ name: "jobs-local", clusterId: h!.clusterId, kind: "local", path: "volumes", capacityGib: 100, allocatedGib: 30 })
    .returning();
  poolId = p!.id;
});
afterAll(async () => { await database?.close(); });

const log = pino({ level: "silent" });
const settings = { number: () => 10_000 };

async function vmWithVolumes(state: string, attachmentStatuses: ("attached" | "attaching")[]) {
  const [vm] = await database.db.insert(vms).values({
    uuid: randomUUID(), name: "v", accountId: ids.accountId, environmentId: ids.envId, flavorId: ids.flavorId, imageId: ids.imageId,
    state, vcpus: 1, memoryMib: 1, hostId,
  }).returning();
  const vols = [];
  for (const status of attachmentStatuses) {
    const uuid = randomUUID();
    const [v] = await database.db.insert(volumes).values({
      uuid, name: "d", accountId: ids.accountId, environmentId: ids.envId, poolId, sizeGib: 10, path: `volumes/${uuid}.qcow2`,
      status: status === "attached" ? "in-use" : "attaching", hostId,
    }).returning();
    await database.db.insert(volumeAttachments).values({ volumeId: v!.id, vmId: vm!.id, status, device: status === "attached" ? "/dev/vdb" : "" });
    vols.push(v!);
  }
  return { vm: vm!, vols };
}

async function job(kind: string, vmId: number): Promise<JobRow> {
  const [j] = await database.db.insert(jobs).values({ uuid: randomUUID(), kind, vmId, accountId: ids.accountId }).returning();
  return j!;
}

describe("a VM's volumes in its jobs", () => {
  it("a start's spec lists attached volumes as disks the VM does not own", async () => {
    const { vm, vols } = await vmWithVolumes("Starting", ["attached", "attaching"]);
    const sent: Command[] = [];
    const dispatcher = { run: async (_h: number, c: Command) => { sent.push(c); return { domain: { powerState: PowerState.POWER_STATE_RUNNING } }; } };
    await vmPowerJob("vm.start", database.db, dispatcher as never, settings)({ job: await job("vm.start", vm.id), attempt: 1, log, progress: async () => {}, signal: new AbortController().signal });
    const spec = sent[0]?.body?.$case === "startVm" ? sent[0].body.value.spec : undefined;
    expect(spec?.disks.filter((d) => d.id.startsWith("volume-"))).toEqual([{
      id: `volume-${vols[0]!.uuid}`, device: "disk", sourcePath: vols[0]!.path, format: "qcow2", sizeGib: 10, bus: "virtio", owned: false, backingPath: "", copyFromVmUuid: "",
    }]);
  });

  it("a start's spec of a VM booting from a volume has it first, not owned, with its image as backing path, and only once", async () => {
    const { vm, vols } = await vmWithVolumes("Starting", ["attached", "attached"]);
    const [image] = await database.db.select().from(images).where(eq(images.id, ids.imageId));
    await database.db.update(images).set({ path: "/images/base.qcow2" }).where(eq(images.id, ids.imageId));
    await database.db.update(volumes).set({ imageId: ids.imageId }).where(eq(volumes.id, vols[0]!.id));
    await database.db.update(vms).set({ bootVolumeId: vols[0]!.id }).where(eq(vms.id, vm.id));
    const sent: Command[] = [];
    const dispatcher = { run: async (_h: number, c: Command) => { sent.push(c); return { domain: { powerState: PowerState.POWER_STATE_RUNNING } }; } };
    await vmPowerJob("vm.start", database.db, dispatcher as never, settings)({ job: await job("vm.start", vm.id), attempt: 1, log, progress: async () => {}, signal: new AbortController().signal });
    const spec = sent[0]?.body?.$case === "startVm" ? sent[0].body.value.spec : undefined;
    expect(spec?.disks.map((d) => [d.sourcePath, d.owned, d.backingPath])).toEqual([
      [vols[0]!.path, false, "/images/base.qcow2"],
      [vols[1]!.path, false, ""],
    ]);
    await database.db.update(images).set({ path: image!.path }).where(eq(images.id, ids.imageId));
  });

  it("a destroy detaches the VM's volumes: available again, nothing deleted", async () => {
    const { vm, vols } = await vmWithVolumes("Destroying", ["attached"]);
    const dispatcher = { run: async () => ({}) };
    await vmDestroyJob(database.db, dispatcher as never, settings)({ job: await job("vm.destroy", vm.id), attempt: 1, log, progress: async () => {}, signal: new AbortController().signal });
    const [v] = await database.db.select().from(volumes).where(eq(volumes.id, vols[0]!.id));
    expect(v).toMatchObject({ status: "available", deletedAt: null });
    expect(await database.db.select().from(volumeAttachments).where(eq(volumeAttachments.vmId, vm.id))).toEqual([]);
  });

  it("a destroy whose recurse asks for the drives deletes the volumes, gives their size back and queues their files' removal", async () => {
    const { vm, vols } = await vmWithVolumes("Destroying", ["attached", "attached"]);
    const [before] = await database.db.select().from(storagePools).where(eq(storagePools.id, poolId));
    const queued: number[] = [];
    const j = { ...(await job("vm.destroy", vm.id)), input: { recurse: "all_drives" } } as JobRow;
    expect(deletesVolumes(j)).toBe(true);
    expect(deletesVolumes({ ...j, input: { recurse: "cdroms" } } as JobRow)).toBe(false);
    await vmDestroyJob(database.db, { run: async () => ({}) } as never, settings, { enqueue: (id) => queued.push(id) })({ job: j, attempt: 1, log, progress: async () => {}, signal: new AbortController().signal });
    const rows = await database.db.select().from(volumes).where(inArray(volumes.id, vols.map((v) => v.id)));
    for (const r of rows) expect(r.deletedAt).not.toBeNull();
    const [after] = await database.db.select().from(storagePools).where(eq(storagePools.id, poolId));
    expect(after!.allocatedGib).toBe(before!.allocatedGib - 20);
    const deleteJobs = await database.db.select().from(jobs).where(inArray(jobs.id, queued));
    expect(deleteJobs.map((d) => [d.kind, d.volumeId]).sort()).toEqual(vols.map((v) => ["volume.delete", v.id]).sort());
  });
});
