// Networking end to end (issue 13): every VM gets an address of its environment's private network
// (a virtio NIC on the network's bridge, the address in the seed's network-config), no address
// twice, freed on delete; admins set CIDRs and floating IP pools (overlaps refused); floating IPs
// at create or attach/detach later. Refusals change nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contains, parseCidr } from "../../manager/src/network/cidr.js";
import { errorShapeProblems, jobsIdle, stateDigest, startTestCloud, type TestCloud } from "./harness.js";

let cloud: TestCloud;
beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [{ hostname: "net-a", uuid: "e0000000-0000-4000-8000-0000000000c1", cpus: 64, memoryMib: 262144 }] });
  await cloud.waitFor("host up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.[0]?.state === "Up");
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

const VM = { flavor_name: "n1-cpu-small", image_name: "Debian 12" };

function expectError(r: { status: number; json: Record<string, any> }, status: number, pattern: RegExp): void {
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  expect(errorShapeProblems(r.status, r.json)).toEqual([]);
  expect(r.json.message).toMatch(pattern);
}

async function create(body: Record<string, unknown>): Promise<any[]> {
  const r = await cloud.api("POST", "/v1/core/virtual-machines", { ...VM, ...body });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.instances;
}

async function instance(id: number): Promise<any> {
  return (await cloud.api("GET", `/v1/core/virtual-machines/${id}`)).json.instance;
}

async function remove(id: number): Promise<void> {
  expect((await cloud.api("DELETE", `/v1/core/virtual-machines/${id}`)).status).toBe(200);
  await cloud.waitFor("VM gone", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${id}`)).status === 404);
}

async function network(envId: number): Promise<any> {
  const r = await cloud.api("GET", `/v1/admin/environments/${envId}/network`);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.network;
}

async function newEnvironment(name: string): Promise<number> {
  const r = await cloud.api("POST", "/v1/core/environments", { name, region: "default" });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.environment.id;
}

describe("private networks and IPAM", () => {
  it("gives each VM a distinct address of its environment's CIDR, a NIC on the network's bridge and a static network-config", async () => {
    const [a, b] = await create({ name: "net", count: 2 });
    const net = await network(a.environment.id);
    expect(net).toMatchObject({ cidr: "10.128.0.0/24", gateway: "10.128.0.1", prefix_length: 24, bridge: `orb-${net.id}`, addresses_in_use: 2 });
    const cidr = parseCidr(net.cidr, "cidr");
    for (const vm of [a, b]) {
      expect(contains(cidr, vm.fixed_ip)).toBe(true);
      expect(vm.fixed_ip).not.toBe(net.gateway);
      expect(vm).toMatchObject({ floating_ip: null, floating_ip_status: "NOT_ATTACHED" });
    }
    expect(a.fixed_ip).not.toBe(b.fixed_ip);

    await cloud.waitFor("running", async () => (await instance(a.id)).status === "ACTIVE");
    const hv = cloud.fleet.hypervisors[0]!;
    const spec = hv.specOf(a.uuid)!;
    expect(spec.nics).toHaveLength(1);
    const nic = spec.nics[0]!;
    expect(nic).toMatchObject({ bridge: net.bridge, model: "virtio", ipAddress: a.fixed_ip, prefixLength: 24, gateway: "10.128.0.1", floatingIp: "" });
    expect(nic.mac).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
    expect(hv.bridgeNames()).toContain(net.bridge);
    const config = JSON.parse(spec.cloudInit!.networkConfig);
    expect(config.version).toBe(2);
    expect(config.ethernets.eth0).toMatchObject({
      match: { macaddress: nic.mac }, dhcp4: false, addresses: [`${a.fixed_ip}/24`], routes: [{ to: "default", via: "10.128.0.1" }],
      nameservers: { addresses: ["1.1.1.1", "8.8.8.8"] },
    });

    // Deleting frees the address: the next VM gets it back (the lowest free one).
    await remove(a.id);
    expect((await network(a.environment.id)).addresses_in_use).toBe(1);
    const [c] = await create({ name: "net-again" });
    expect(c.fixed_ip).toBe(a.fixed_ip);
    await remove(b.id);
    await remove(c.id);
    expect((await network(a.environment.id)).addresses_in_use).toBe(0);
  });

  it("releases the addresses of a create the scheduler refuses", async () => {
    await create({ name: "warm" }).then(async ([vm]) => { await jobsIdle(cloud); await remove(vm.id); });
    const before = await stateDigest(cloud);
    const r = await cloud.api("POST", "/v1/core/virtual-machines", { name: "no-gpu-here", flavor_name: "n3-H100x8", image_name: "Debian 12", count: 3 });
    expect(r.status, JSON.stringify(r.json)).toBe(409);
    expect(await stateDigest(cloud)).toBe(before);
  });

  it("refuses a create the network has no room for with a 409, leaving nothing, and fills it exactly", async () => {
    const env = await newEnvironment("tiny");
    // A /29: .1 the gateway, .2 to .6 for VMs.
    const set = await cloud.api("PUT", `/v1/admin/environments/${env}/network`, { cidr: "192.168.50.0/29" });
    expect(set.status, JSON.stringify(set.json)).toBe(200);
    expect(set.json.network).toMatchObject({ cidr: "192.168.50.0/29", gateway: "192.168.50.1" });
    await jobsIdle(cloud);
    const before = await stateDigest(cloud);
    expectError(await cloud.api("POST", "/v1/core/virtual-machines", { ...VM, name: "full", count: 6, environment_name: "tiny" }), 409,
      /environment "tiny" network 192.168.50.0\/29 has no free address/);
    expect(await stateDigest(cloud)).toBe(before);

    const vms = await create({ name: "fill", count: 5, environment_name: "tiny" });
    expect(vms.map((v) => v.fixed_ip).sort()).toEqual(["192.168.50.2", "192.168.50.3", "192.168.50.4", "192.168.50.5", "192.168.50.6"]);
    await jobsIdle(cloud);
    const full = await stateDigest(cloud);
    expectError(await cloud.api("POST", "/v1/core/virtual-machines", { ...VM, name: "one-more", environment_name: "tiny" }), 409, /no free address/);
    expect(await stateDigest(cloud)).toBe(full);
    // Its CIDR cannot change while VMs hold addresses.
    expectError(await cloud.api("PUT", `/v1/admin/environments/${env}/network`, { cidr: "192.168.60.0/24" }), 409, /cannot change until they are deleted/);
    for (const v of vms) await remove(v.id);
  });

  it("refuses overlapping and malformed CIDRs, changing nothing", async () => {
    const first = (await cloud.api("GET", "/v1/core/environments")).json.environments.find((e: any) => e.name === "default").id;
    const taken = (await network(first)).cidr;
    const env = await newEnvironment("overlap");
    const mine = await network(env);
    expect(mine.cidr).not.toBe(taken);
    await jobsIdle(cloud);
    const before = await stateDigest(cloud);
    expectError(await cloud.api("PUT", `/v1/admin/environments/${env}/network`, { cidr: "10.128.0.128/25" }), 409, new RegExp(`overlaps network ${taken}`));
    expectError(await cloud.api("PUT", `/v1/admin/environments/${env}/network`, { cidr: "10.0.0.0/8" }), 409, /overlaps network/);
    expectError(await cloud.api("PUT", `/v1/admin/environments/${env}/network`, { cidr: "10.200.0.5/24" }), 400, /host bits set/);
    expectError(await cloud.api("PUT", `/v1/admin/environments/${env}/network`, { cidr: "not-a-cidr" }), 400, /not an IPv4 CIDR/);
    expectError(await cloud.api("PUT", `/v1/admin/environments/${env}/network`, { cidr: "10.200.0.0/30" }), 400, /too small/);
    expectError(await cloud.api("PUT", `/v1/admin/environments/999999/network`, { cidr: "10.200.0.0/24" }), 404, /environment 999999/);
    expect(await stateDigest(cloud)).toBe(before);
    expect(await network(env)).toEqual(mine);
  });
});

describe("floating IPs", () => {
  it("assigns one at create, attaches and detaches later, refuses when there is no pool or it is used up", async () => {
    const env = await newEnvironment("public");
    await jobsIdle(cloud);
    let before = await stateDigest(cloud);
    expectError(await cloud.api("POST", "/v1/core/virtual-machines", { ...VM, name: "pub", environment_name: "public", assign_floating_ip: true }), 409,
      /environment "public" has no floating IP pool/);
    expect(await stateDigest(cloud)).toBe(before);

    // A /30 pool: two usable public addresses.
    const set = await cloud.api("PUT", `/v1/admin/environments/${env}/network`, { floating_ip_pool: "203.0.113.0/30" });
    expect(set.status, JSON.stringify(set.json)).toBe(200);
    expect(set.json.network.floating_ip_pool).toBe("203.0.113.0/30");
    const [a] = await create({ name: "pub-a", environment_name: "public", assign_floating_ip: true });
    expect(a).toMatchObject({ floating_ip: "203.0.113.1", floating_ip_status: "ATTACHED" });
    await cloud.waitFor("running", async () => (await instance(a.id)).status === "ACTIVE");
    expect(cloud.fleet.hypervisors[0]!.specOf(a.uuid)!.nics[0]).toMatchObject({ ipAddress: a.fixed_ip, floatingIp: "203.0.113.1" });

    const [b, c] = await create({ name: "pub-b", count: 2, environment_name: "public" });
    expect(b.floating_ip).toBeNull();
    const attached = await cloud.api("POST", `/v1/core/virtual-machines/${b.id}/attach-floatingip`);
    expect(attached.status, JSON.stringify(attached.json)).toBe(200);
    expect(attached.json).toMatchObject({ status: true, floating_ip: "203.0.113.2" });
    expect(await instance(b.id)).toMatchObject({ floating_ip: "203.0.113.2", floating_ip_status: "ATTACHED" });
    // A running VM's host NATs the new address at once (a vm.firewall job), without a restart.
    await cloud.waitFor("b running", async () => (await instance(b.id)).status === "ACTIVE");
    await jobsIdle(cloud);
    expect(cloud.fleet.hypervisors[0]!.firewallOf(b.uuid)).toMatchObject({ privateIp: b.fixed_ip, floatingIp: "203.0.113.2" });

    await jobsIdle(cloud);
    before = await stateDigest(cloud);
    expectError(await cloud.api("POST", `/v1/core/virtual-machines/${b.id}/attach-floatingip`), 409, /already has floating IP 203.0.113.2/);
    expectError(await cloud.api("POST", `/v1/core/virtual-machines/${c.id}/attach-floatingip`), 409, /floating IP pool 203.0.113.0\/30 has no free address/);
    expectError(await cloud.api("POST", `/v1/core/virtual-machines/${c.id}/detach-floatingip`), 409, /has no floating IP/);
    expectError(await cloud.api("POST", "/v1/core/virtual-machines/999999/attach-floatingip"), 404, /virtual machine 999999/);
    // The pool cannot change while addresses of it are attached, nor overlap another pool.
    expectError(await cloud.api("PUT", `/v1/admin/environments/${env}/network`, { floating_ip_pool: "198.51.100.0/29" }), 409, /floating IP\(s\) attached/);
    const other = await newEnvironment("public-2");
    expectError(await cloud.api("PUT", `/v1/admin/environments/${other}/network`, { floating_ip_pool: "203.0.113.0/29" }), 409,
      /overlaps the floating IP pool 203.0.113.0\/30 of environment "public"/);
    expect(await stateDigest(cloud)).toBe(before);

    const detached = await cloud.api("POST", `/v1/core/virtual-machines/${b.id}/detach-floatingip`);
    expect(detached.status).toBe(200);
    expect(detached.json.floating_ip).toBe("203.0.113.2");
    expect(await instance(b.id)).toMatchObject({ floating_ip: null, floating_ip_status: "NOT_ATTACHED" });
    expect((await cloud.api("POST", `/v1/core/virtual-machines/${c.id}/attach-floatingip`)).json.floating_ip).toBe("203.0.113.2");

    // Deleting a VM frees its floating IP with its fixed one.
    await remove(a.id);
    expect((await cloud.api("POST", `/v1/core/virtual-machines/${b.id}/attach-floatingip`)).json.floating_ip).toBe("203.0.113.1");
    const user = await cloud.api("GET", `/v1/admin/environments/${env}/network`);
    expect(user.json.network).toMatchObject({ addresses_in_use: 2, floating_ips_in_use: 2 });
    for (const v of [b, c]) await remove(v.id);
    expect(await network(env)).toMatchObject({ addresses_in_use: 0, floating_ips_in_use: 0 });
  });
});
