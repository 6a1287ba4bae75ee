// loadStartInputs / loadFirewallInputs (one statement) give what the separate reads they replace
// give: the image row, rules, NIC, ISO and the flavor's disk, as drizzle's own selects map them.
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { accounts, environments, flavors, images, ipAllocations, networks, securityRules, vms } from "../db/schema.js";
import { loadVmNetworking } from "../network/vm-network.js";
import { securityRulesOf } from "../security-rules/security-rule-service.js";
import { isoOfVm } from "../vm/vm-iso.js";
import { loadFirewallInputs, loadStartInputs } from "./start-inputs.js";

let database: Database;
let ids: { account: number; environment: number; flavor: number; image: number; iso: number };

beforeAll(async () => {
  database = await openTestDatabase();
  const db = database.db;
  const [account] = await db.insert(accounts).values({ name: "inputs" }).returning();
  const [environment] = await db.insert(environments).values({ name: "inputs", accountId: account!.id, regionId: 1 }).returning();
  await db.insert(networks).values({ environmentId: environment!.id, regionId: 1, cidr: "10.7.0.0/24", gateway: "10.7.0.1", nameservers: ["1.1.1.1", "9.9.9.9"] });
  const [flavor] = await db.insert(flavors).values({ name: "in-f", vcpus: 2, memoryMib: 2048, diskGib: 40 }).returning();
  const [image] = await db.insert(images).values({ name: "in-i", path: "in-i.qcow2", sizeGib: 3, labels: ["a", "b"] }).returning();
  const [iso] = await db.insert(images).values({ name: "in-iso", path: "in.iso", format: "iso" }).returning();
  ids = { account: account!.id, environment: environment!.id, flavor: flavor!.id, image: image!.id, iso: iso!.id };
}, 60_000);
afterAll(async () => { await database?.close(); });

describe("loadStartInputs", () => {
  it("reads in one statement what the separate reads give", async () => {
    const db = database.db;
    const [vm] = await db.insert(vms).values({
      uuid: randomUUID(), name: "in", accountId: ids.account, environmentId: ids.environment, flavorId: ids.flavor, imageId: ids.image,
      state: "Starting", vcpus: 2, memoryMib: 2048, isoImageId: ids.iso,
    }).returning();
    const [network] = await db.select().from(networks).where(eq(networks.environmentId, ids.environment));
    await db.insert(ipAllocations).values([
      { networkId: network!.id, kind: "fixed", address: "10.7.0.5", vmUuid: vm!.uuid },
      { networkId: network!.id, kind: "floating", address: "203.0.113.9", vmUuid: vm!.uuid },
    ]);
    await db.insert(securityRules).values([
      { vmId: vm!.id, direction: "ingress", ethertype: "IPv4", protocol: "tcp", remoteIpPrefix: "0.0.0.0/0", portRangeMin: 22, portRangeMax: 22 },
      { vmId: vm!.id, direction: "egress", ethertype: "IPv4", protocol: "any", remoteIpPrefix: "10.0.0.0/8" },
    ]);

    const got = await loadStartInputs(db, vm!, { withVolumes: true });
    const [image] = await db.select().from(images).where(eq(images.id, ids.image));
    expect(got.image).toEqual(image);
    expect(got.rules).toEqual((await securityRulesOf(db, [vm!.id])).get(vm!.id));
    expect(got.rules).toHaveLength(2);
    expect(got.networking).toEqual(await loadVmNetworking(db, vm!));
    expect(got.networking?.nic).toMatchObject({ ipAddress: "10.7.0.5", floatingIp: "203.0.113.9", gateway: "10.7.0.1", prefixLength: 24 });
    expect(got.iso).toEqual(await isoOfVm(db, vm!));
    expect(got.iso.rootDiskGib).toBe(40);
    expect(got.alloc).toBeUndefined();
    expect(got.gpuRows).toEqual([]);
    expect(got.bootDisk).toBeUndefined();
    expect(got.volumeDisks).toEqual([]);

    const fw = await loadFirewallInputs(db, vm!);
    expect(fw).toEqual({ rules: got.rules, networking: got.networking });
  });

  it("gives no NIC to a VM without an address, and no ISO to one without", async () => {
    const db = database.db;
    const [vm] = await db.insert(vms).values({
      uuid: randomUUID(), name: "bare", accountId: ids.account, environmentId: ids.environment, flavorId: ids.flavor, imageId: ids.image,
      state: "Starting", vcpus: 1, memoryMib: 512,
    }).returning();
    const got = await loadStartInputs(db, vm!);
    expect(got.networking).toBeUndefined();
    expect(got.iso).toEqual({ image: undefined, rootDiskGib: 40 });
    expect(got.rules).toEqual([]);
  });
});
