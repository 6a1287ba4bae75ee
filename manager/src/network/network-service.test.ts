// Environment networks on the real database: automatic non-overlapping CIDRs (also when created
// concurrently), admin changes refused on overlap or while in use, with nothing changed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { accounts, environments, ipAllocations, networks, regions } from "../db/schema.js";
import { overlaps, parseCidr } from "./cidr.js";
import { NetworkService } from "./network-service.js";

let database: Database;
let svc: NetworkService;
let account: number;
let otherRegion: number;
let n = 0;

beforeAll(async () => {
  database = await openTestDatabase();
  svc = new NetworkService(database.db, () => ({ supernet: "10.128.0.0/21", prefix: 24, nameservers: ["9.9.9.9"] }));
  account = (await database.db.insert(accounts).values({ name: "net" }).returning())[0]!.id;
  otherRegion = (await database.db.insert(regions).values({ name: "OTHER-1" }).returning())[0]!.id;
}, 60_000);
afterAll(async () => { await database?.close(); });

async function env(regionId = 1): Promise<{ id: number; regionId: number; name: string }> {
  const [row] = await database.db.insert(environments).values({ name: `env-${++n}`, accountId: account, regionId }).returning();
  return { id: row!.id, regionId, name: row!.name };
}
const stored = async () => JSON.stringify(await database.db.select().from(networks).orderBy(networks.id));

describe("NetworkService", () => {
  it("gives environments created concurrently distinct, non-overlapping /24s of the supernet, with the gateway first", async () => {
    const envs = await Promise.all([env(), env(), env(), env()]);
    const nets = await Promise.all(envs.map((e) => svc.forEnvironment(e)));
    expect(nets.map((x) => x.cidr).sort()).toEqual(["10.128.0.0/24", "10.128.1.0/24", "10.128.2.0/24", "10.128.3.0/24"]);
    for (const x of nets) expect(x).toMatchObject({ gateway: x.cidr.replace(/0\/24$/, "1"), nameservers: ["9.9.9.9"], floatingCidr: null });
    expect((await svc.forEnvironment(envs[0]!)).id).toBe(nets[0]!.id);
    // Another region may reuse the same addresses.
    expect((await svc.forEnvironment(await env(otherRegion))).cidr).toBe("10.128.0.0/24");
  });

  it("refuses overlapping CIDRs in a region, and when the supernet is used up, changing nothing", async () => {
    const e = await env();
    const mine = await svc.forEnvironment(e);
    const before = await stored();
    await expect(svc.set(e.id, { cidr: "10.128.0.0/16" })).rejects.toMatchObject({ code: "conflict", // Which environment of the region holds which /24 depends on how the concurrent creates above raced.
      message: expect.stringMatching(/overlaps network 10\.128\.\d+\.0\/24 of environment "env-\d+" in the same region/) });
    await expect(svc.set(e.id, { cidr: "10.128.2.128/25" })).rejects.toMatchObject({ code: "conflict", details: { field: "cidr", overlaps: "10.128.2.0/24" } });
    await expect(svc.set(e.id, { cidr: "10.128.9.1/24" })).rejects.toMatchObject({ code: "invalid_argument", details: { field: "cidr" } });
    expect(await stored()).toBe(before);
    // The supernet (/21: 8 blocks) has 5 taken in region 1 now; three more fit, the next is refused.
    for (let i = 0; i < 3; i++) await svc.forEnvironment(await env());
    await expect(svc.forEnvironment(await env())).rejects.toMatchObject({ code: "conflict", message: expect.stringMatching(/supernet 10.128.0.0\/21 has no free \/24/) });
    // Moving one network out frees its block.
    const moved = await svc.set(e.id, { cidr: "172.16.0.0/20" });
    expect(moved.network).toMatchObject({ cidr: "172.16.0.0/20", gateway: "172.16.0.1" });
    expect(overlaps(parseCidr(mine.cidr, "cidr"), parseCidr("172.16.0.0/20", "cidr"))).toBe(false);
    expect((await svc.forEnvironment(await env())).cidr).toBe(mine.cidr);
  });

  it("sets floating pools that overlap no other pool nor the private network; neither changes while in use", async () => {
    const [a, b] = [await env(otherRegion), await env(otherRegion)];
    await svc.set(a.id, { cidr: "192.168.10.0/24", floating_ip_pool: "203.0.113.0/28" });
    await svc.forEnvironment(b);
    const before = await stored();
    await expect(svc.set(b.id, { floating_ip_pool: "203.0.113.8/29" })).rejects.toMatchObject({ code: "conflict", details: { field: "floating_ip_pool", overlaps: "203.0.113.0/28" } });
    await expect(svc.set(b.id, { cidr: "192.168.20.0/24", floating_ip_pool: "192.168.20.0/30" })).rejects.toMatchObject({ code: "conflict", message: expect.stringMatching(/overlaps the environment's floating IP pool 192.168.20.0\/30/) });
    await expect(svc.set(a.id, { floating_ip_pool: "192.168.10.64/26" })).rejects.toMatchObject({ code: "conflict", details: { field: "floating_ip_pool", overlaps: "192.168.10.0/24" } });
    expect(await stored()).toBe(before);
    const net = (await svc.get(a.id)).network;
    await database.db.insert(ipAllocations).values([
      { networkId: net.id, kind: "fixed", address: "192.168.10.2", vmUuid: "00000000-0000-4000-8000-000000000001" },
      { networkId: net.id, kind: "floating", address: "203.0.113.1", vmUuid: "00000000-0000-4000-8000-000000000001" },
    ]);
    expect(await svc.get(a.id)).toMatchObject({ fixedInUse: 1, floatingInUse: 1 });
    await expect(svc.set(a.id, { cidr: "192.168.11.0/24" })).rejects.toMatchObject({ code: "conflict", details: { in_use: 1 } });
    await expect(svc.set(a.id, { floating_ip_pool: null })).rejects.toMatchObject({ code: "conflict", details: { field: "floating_ip_pool", in_use: 1 } });
    expect(await stored()).toBe(before);
    // Setting what is already set is no change, and so allowed.
    expect((await svc.set(a.id, { cidr: "192.168.10.0/24", floating_ip_pool: "203.0.113.0/28" })).network.updatedAt).toEqual(net.updatedAt);
  });
});
