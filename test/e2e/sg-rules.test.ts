// Security rules (Hyperstack's sg-rules) end to end: rules given at create and added or deleted
// later are stored, shown on the instance, and reach the VM's host (the simulated agent's driver
// keeps the firewall it was sent: at start, and by a vm.firewall job on every change while the VM
// runs). Bad rules are refused 400 naming the field, changing nothing.
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commands, jobs, securityRules } from "../../manager/src/db/schema.js";
import { createUserKey, errorShapeProblems, jobsIdle, stateDigest, startTestCloud, type TestCloud } from "./harness.js";

let cloud: TestCloud;
let alice: string;
let bob: string;
beforeAll(async () => {
  // Starts take a while, so a rule can be added while a start is under way.
  cloud = await startTestCloud({ hosts: [{ hostname: "sg-a", uuid: "5e000000-0000-4000-8000-0000000000a1", cpus: 16, memoryMib: 32768 }], fleet: { startDelayMs: 1500 } });
  alice = await createUserKey(cloud, "sg-alice");
  bob = await createUserKey(cloud, "sg-bob");
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

const SSH = { direction: "ingress", ethertype: "IPv4", protocol: "tcp", remote_ip_prefix: "0.0.0.0/0", port_range_min: 22, port_range_max: 22 };
const DNS = { direction: "egress", ethertype: "IPv4", protocol: "udp", remote_ip_prefix: "192.0.2.53", port_range_min: 53, port_range_max: 53 };

let vmId: number;
let vmUuid: string;
const instance = async () => (await cloud.api("GET", `/v1/core/virtual-machines/${vmId}`, undefined, alice)).json.instance;
/** The firewall the VM's host holds (what the agent was last sent). */
const hostFirewall = () => cloud.fleet.hypervisors[0]!.firewallOf(vmUuid);
const ruleCount = async () => (await cloud.manager.database.db.select().from(securityRules).where(eq(securityRules.vmId, vmId))).length;

describe("security rules", () => {
  it("lists the protocols a rule may name", async () => {
    const r = await cloud.api("GET", "/v1/core/sg-rules-protocols", undefined, alice);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ status: true });
    expect(r.json.protocols).toEqual(expect.arrayContaining(["any", "tcp", "udp", "icmp", "icmpv6", "ipv6-icmp", "sctp", "gre"]));
    expect(r.json.protocols).toHaveLength(26);
  });

  it("a VM created with security_rules shows them and starts with them on its host", async () => {
    const r = await cloud.api("POST", "/v1/core/virtual-machines", {
      name: "sg-1", flavor_name: "n1-cpu-small", image_name: "Debian 12", security_rules: [SSH],
    }, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    vmId = r.json.instances[0].id;
    vmUuid = r.json.instances[0].uuid;
    expect(r.json.instances[0].security_rules).toEqual([{
      id: expect.any(Number), direction: "ingress", ethertype: "IPv4", protocol: "tcp", port_range_min: 22, port_range_max: 22,
      remote_ip_prefix: "0.0.0.0/0", status: "active", created_at: expect.any(String),
    }]);
    await cloud.waitFor("VM running", async () => (await instance()).status === "ACTIVE");
    await jobsIdle(cloud);
    // Written for the VM's address on its environment network.
    expect(hostFirewall()).toEqual({
      privateIp: (await instance()).fixed_ip,
      rules: [{ direction: "ingress", ethertype: "IPv4", protocol: "tcp", remoteIpPrefix: "0.0.0.0/0", portRangeMin: 22, portRangeMax: 22 }],
    });
  });

  let dnsRuleId: number;
  it("adds a rule to a running VM: answered with the rule, shown on the instance, sent to the host", async () => {
    const r = await cloud.api("POST", `/v1/core/virtual-machines/${vmId}/sg-rules`, DNS, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toMatchObject({
      status: true,
      security_rule: { direction: "egress", ethertype: "IPv4", protocol: "udp", port_range_min: 53, port_range_max: 53, remote_ip_prefix: "192.0.2.53/32", status: "active" },
    });
    dnsRuleId = r.json.security_rule.id;
    expect((await instance()).security_rules.map((x: { id: number }) => x.id)).toEqual([expect.any(Number), dnsRuleId]);
    await jobsIdle(cloud);
    const [job] = await cloud.manager.database.db.select().from(jobs).where(eq(jobs.kind, "vm.firewall"));
    expect(job?.status, JSON.stringify(job?.error)).toBe("succeeded");
    expect(hostFirewall()?.rules).toEqual([
      expect.objectContaining({ protocol: "tcp", portRangeMin: 22 }),
      { direction: "egress", ethertype: "IPv4", protocol: "udp", remoteIpPrefix: "192.0.2.53/32", portRangeMin: 53, portRangeMax: 53 },
    ]);
  });

  it("deletes a rule: gone from the instance and from the host", async () => {
    const sshId = (await instance()).security_rules[0].id as number;
    const r = await cloud.api("DELETE", `/v1/core/virtual-machines/${vmId}/sg-rules/${sshId}`, undefined, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toMatchObject({ status: true });
    expect((await instance()).security_rules.map((x: { id: number }) => x.id)).toEqual([dnsRuleId]);
    await jobsIdle(cloud);
    expect(hostFirewall()?.rules).toEqual([expect.objectContaining({ protocol: "udp", portRangeMin: 53 })]);
    const again = await cloud.api("DELETE", `/v1/core/virtual-machines/${vmId}/sg-rules/${sshId}`, undefined, alice);
    expect(again.status).toBe(404);
    expect(errorShapeProblems(again.status, again.json)).toEqual([]);
  });

  it.each([
    ["port_range_min above port_range_max", { ...SSH, port_range_min: 2000, port_range_max: 1000 }, "port_range_min", /greater than port_range_max/],
    ["an unknown protocol", { ...SSH, protocol: "carrier-pigeon" }, "protocol", /unknown protocol/],
    ["a direction that is neither way", { ...SSH, direction: "sideways" }, "direction", /ingress or egress/],
    ["an IPv6 prefix in an IPv4 rule", { ...SSH, remote_ip_prefix: "2001:db8::/32" }, "remote_ip_prefix", /not an IPv4 prefix/],
    ["ports on icmp", { ...SSH, protocol: "icmp" }, "port_range_min", /ports apply only to/],
    ["another VM's id in the body", { ...SSH, virtual_machine_id: 999999 }, "virtual_machine_id", /not the VM of the path/],
  ])("refuses %s with 400 naming the field, changing nothing", async (_what, body, field, message) => {
    const before = await stateDigest(cloud);
    const rules = await ruleCount();
    const r = await cloud.api("POST", `/v1/core/virtual-machines/${vmId}/sg-rules`, body, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(400);
    expect(errorShapeProblems(r.status, r.json)).toEqual([]);
    expect(r.json.field).toBe(field);
    expect(r.json.message).toMatch(message);
    expect(await ruleCount()).toBe(rules);
    expect(await stateDigest(cloud)).toBe(before);
  });

  it("refuses a create whose rule is bad, naming the rule's field, creating no VM", async () => {
    const count = async () => (await cloud.api("GET", "/v1/core/virtual-machines", undefined, alice)).json.count as number;
    const before = await count();
    const r = await cloud.api("POST", "/v1/core/virtual-machines", {
      name: "sg-bad", flavor_name: "n1-cpu-small", image_name: "Debian 12", security_rules: [SSH, { ...SSH, port_range_min: 90, port_range_max: 80 }],
    }, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(400);
    expect(r.json.field).toBe("security_rules[1].port_range_min");
    expect(await count()).toBe(before);
  });

  it("another account's VM is a 404, to add and to delete, and keeps its rules", async () => {
    const add = await cloud.api("POST", `/v1/core/virtual-machines/${vmId}/sg-rules`, SSH, bob);
    expect(add.status).toBe(404);
    const del = await cloud.api("DELETE", `/v1/core/virtual-machines/${vmId}/sg-rules/${dnsRuleId}`, undefined, bob);
    expect(del.status).toBe(404);
    expect((await instance()).security_rules.map((x: { id: number }) => x.id)).toEqual([dnsRuleId]);
  });

  it("a stopped VM's new rule is not sent until it starts; the start carries it", async () => {
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${vmId}/stop`, undefined, alice)).status).toBe(200);
    await jobsIdle(cloud);
    expect((await instance()).status).toBe("SHUTOFF");
    const firewallJobs = async () => (await cloud.manager.database.db.select().from(jobs).where(eq(jobs.kind, "vm.firewall"))).length;
    const jobsBefore = await firewallJobs();
    const r = await cloud.api("POST", `/v1/core/virtual-machines/${vmId}/sg-rules`, { ...SSH, ethertype: "IPv6", protocol: "icmp", remote_ip_prefix: "::/0", port_range_min: null, port_range_max: null }, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(await firewallJobs()).toBe(jobsBefore);
    expect(hostFirewall()?.rules).toHaveLength(1);
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${vmId}/start`, undefined, alice)).status).toBe(200);
    await jobsIdle(cloud);
    expect((await instance()).status).toBe("ACTIVE");
    expect(hostFirewall()?.rules).toEqual([
      expect.objectContaining({ protocol: "udp" }),
      { direction: "ingress", ethertype: "IPv6", protocol: "icmp", remoteIpPrefix: "::/0" },
    ]);
  });

  it("a rule added after the start was sent (the VM not running yet) reaches the host once the VM runs", async () => {
    const db = cloud.manager.database.db;
    const r = await cloud.api("POST", "/v1/core/virtual-machines", { name: "sg-race", flavor_name: "n1-cpu-small", image_name: "Debian 12" }, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const { id, uuid } = r.json.instances[0];
    // The start spec (without the rule) is on its way to the host.
    await cloud.waitFor("start sent", async () =>
      (await db.select().from(commands).where(and(eq(commands.vmId, id), eq(commands.kind, "startVm")))).length > 0);
    const added = await cloud.api("POST", `/v1/core/virtual-machines/${id}/sg-rules`, SSH, alice);
    expect(added.status, JSON.stringify(added.json)).toBe(200);
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${id}`, undefined, alice)).json.instance.status).not.toBe("ACTIVE");
    await cloud.waitFor("VM running", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${id}`, undefined, alice)).json.instance?.status === "ACTIVE");
    await jobsIdle(cloud);
    expect(cloud.fleet.hypervisors[0]!.firewallOf(uuid)?.rules).toEqual([expect.objectContaining({ protocol: "tcp", portRangeMin: 22 })]);
    const firewallJobs = await db.select().from(jobs).where(and(eq(jobs.vmId, id), eq(jobs.kind, "vm.firewall")));
    expect(firewallJobs.map((j) => j.status)).toEqual(["succeeded"]);
  });

  it("deleting the VM removes its firewall from the host", async () => {
    expect((await cloud.api("DELETE", `/v1/core/virtual-machines/${vmId}`, undefined, alice)).status).toBe(200);
    await jobsIdle(cloud);
    expect(hostFirewall()).toBeUndefined();
  });
});
