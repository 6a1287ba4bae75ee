// Settings at scopes through /v1/admin/settings (issue #14): the list shows every setting's
// type, default, value, scopes and range; a value at a cluster, host or environment changes what
// the next placement, the host's reserve or a new network gets; DELETE falls back to the scope
// above; refusals name the setting and the rule; every change is in the audit.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCloud, type TestCloud } from "./harness.js";

let cloud: TestCloud;
let hostId: number;
let clusterId: number;

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [{ hostname: "sc-1", uuid: "5c000000-0000-4000-8000-000000000001", cpus: 4, memoryMib: 16384, cluster: "sc" }] });
  const [h] = await cloud.waitFor("host up", async () => {
    const r = await cloud.api("GET", "/v1/admin/hosts");
    return r.json.hosts?.length === 1 && r.json.hosts[0].state === "Up" && r.json.hosts;
  });
  hostId = h.id;
  clusterId = (await cloud.api("GET", "/v1/admin/clusters")).json.clusters.find((c: any) => c.name === "sc").id;
  expect((await cloud.api("POST", "/v1/admin/flavors", { name: "sc-6", cpu: 6, ram: 1 })).status).toBe(201);
}, 60_000);
afterAll(async () => { await cloud?.stop(); });

const setting = (name: string, scope?: string, id?: number) => `/v1/admin/settings/${name}${scope ? `?scope=${scope}${id !== undefined ? `&scope_id=${id}` : ""}` : ""}`;

describe("GET /v1/admin/settings", () => {
  it("lists every setting with type, default, global value, allowed scopes, range and description", async () => {
    const { json } = await cloud.api("GET", "/v1/admin/settings");
    const byName = Object.fromEntries(json.settings.map((s: any) => [s.name, s]));
    expect(byName["ping.interval"]).toMatchObject({ type: "number", default: 10, value: 10, scopes: ["global"], min: 0.2, max: 600 });
    expect(byName["ping.timeout"]).toMatchObject({ type: "number", scopes: ["global"] });
    expect(byName["vm.destroy.timeout.ms"]).toMatchObject({ default: 120_000 });
    expect(byName["host.memory.reserve.mib"].scopes).toEqual(["global", "cluster", "host"]);
    expect(byName["cpu.overprovisioning.factor"].scopes).toEqual(["global", "cluster"]);
    expect(byName["network.nameservers"]).toMatchObject({ type: "string", scopes: ["global", "environment", "account"] });
    for (const s of json.settings) {
      expect(s.description, s.name).not.toBe("");
      expect(s.scopes[0]).toBe("global");
    }
  });
});

describe("a value at a scope", () => {
  it("a cluster's over-provisioning factor applies on the next placement, and DELETE reverts it", async () => {
    const dryRun = async () => (await cloud.api("POST", "/v1/admin/placement/dry-run", { flavor_name: "sc-6" })).json.result.ok;
    expect(await dryRun()).toBe(false); // 6 vCPUs on a 4-CPU host at factor 1
    const put = await cloud.api("PUT", setting("cpu.overprovisioning.factor", "cluster", clusterId), { value: 2 });
    expect(put.json).toMatchObject({ status: true, setting: { name: "cpu.overprovisioning.factor", value: 2, scope: "cluster", scope_id: clusterId } });
    expect(await dryRun()).toBe(true);
    const seen = await cloud.api("GET", setting("cpu.overprovisioning.factor", "cluster", clusterId));
    expect(seen.json.setting).toMatchObject({ value: 2, set_here: true, value_from: "cluster", value_from_id: clusterId, default: 1 });
    expect((await cloud.api("GET", setting("cpu.overprovisioning.factor"))).json.setting).toMatchObject({ value: 1, set_here: false, is_default: true });
    const del = await cloud.api("DELETE", setting("cpu.overprovisioning.factor", "cluster", clusterId));
    expect(del.json.setting).toMatchObject({ value: 1, set_here: false, value_from: "default" });
    expect(await dryRun()).toBe(false);
  });

  it("a host's memory reserve beats its cluster's and the global one, and is rewritten on the host at once", async () => {
    const reserve = async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts[0].capacity.memory_reserve_mib;
    const global = (await cloud.api("GET", setting("host.memory.reserve.mib"))).json.setting.value;
    expect(await reserve()).toBe(global);
    expect((await cloud.api("PUT", setting("host.memory.reserve.mib", "cluster", clusterId), { value: 3000 })).status).toBe(200);
    await cloud.waitFor("cluster reserve", async () => (await reserve()) === 3000);
    expect((await cloud.api("PUT", setting("host.memory.reserve.mib", "host", hostId), { value: 1000 })).status).toBe(200);
    await cloud.waitFor("host reserve", async () => (await reserve()) === 1000);
    expect((await cloud.api("GET", setting("host.memory.reserve.mib", "host", hostId))).json.setting).toMatchObject({ value: 1000, value_from: "host" });
    expect((await cloud.api("DELETE", setting("host.memory.reserve.mib", "host", hostId))).json.setting).toMatchObject({ value: 3000, value_from: "cluster" });
    await cloud.waitFor("back to the cluster's", async () => (await reserve()) === 3000);
    expect((await cloud.api("DELETE", setting("host.memory.reserve.mib", "cluster", clusterId))).status).toBe(200);
    await cloud.waitFor("back to the global one", async () => (await reserve()) === global);
  });

  it("an environment's nameservers beat its account's for the network it gets", async () => {
    const env = await cloud.api("POST", "/v1/core/environments", { name: "scoped-dns", region: "default" });
    expect(env.status).toBe(200);
    const envId = env.json.environment.id;
    const accountId = (await cloud.api("GET", "/v1/auth/me")).json.user.account.id;
    expect((await cloud.api("PUT", setting("network.nameservers", "account", accountId), { value: "9.9.9.9" })).status).toBe(200);
    expect((await cloud.api("GET", setting("network.nameservers", "environment", envId))).json.setting).toMatchObject({ value: "9.9.9.9", value_from: "account" });
    expect((await cloud.api("PUT", setting("network.nameservers", "environment", envId), { value: "192.0.2.53" })).status).toBe(200);
    const net = await cloud.api("GET", `/v1/admin/environments/${envId}/network`);
    expect(net.json.network.nameservers).toEqual(["192.0.2.53"]);
    expect((await cloud.api("DELETE", setting("network.nameservers", "account", accountId))).status).toBe(200);
  });
});

describe("refusals", () => {
  it("400 naming the setting and the rule; 404 for a scope object that does not exist; nothing changed", async () => {
    const cases: [string, string, unknown, number, RegExp][] = [
      ["PUT", setting("ping.interval", "cluster", clusterId), { value: 5 }, 400, /ping\.interval cannot be set at scope cluster \(allowed: global\)/],
      ["PUT", setting("cpu.overprovisioning.factor", "cluster", clusterId), { value: 100 }, 400, /cpu\.overprovisioning\.factor must be between 0\.1 and 16 \(got 100\)/],
      ["PUT", setting("cpu.overprovisioning.factor", "cluster"), { value: 2 }, 400, /scope cluster needs scope_id/],
      ["PUT", setting("cpu.overprovisioning.factor", "global", 3), { value: 2 }, 400, /scope_id/],
      ["PUT", setting("cpu.overprovisioning.factor", "zone", 3), { value: 2 }, 400, /scope/],
      ["PUT", setting("cpu.overprovisioning.factor", "cluster", 987_654), { value: 2 }, 404, /cluster/],
      ["DELETE", setting("host.memory.reserve.mib", "host", 987_654), undefined, 404, /host/],
      ["GET", setting("network.nameservers", "host", hostId), undefined, 400, /network\.nameservers cannot be set at scope host/],
      ["PUT", setting("no.such.setting"), { value: 1 }, 404, /no\.such\.setting/],
    ];
    const before = (await cloud.api("GET", "/v1/admin/settings/audit")).json.count;
    for (const [method, path, body, status, message] of cases) {
      const r = await cloud.api(method, path, body);
      expect(r.status, `${method} ${path}: ${JSON.stringify(r.json)}`).toBe(status);
      expect(r.json.message, path).toMatch(message);
    }
    expect((await cloud.api("GET", "/v1/admin/settings/audit")).json.count).toBe(before);
    expect((await cloud.api("GET", setting("cpu.overprovisioning.factor", "cluster", clusterId))).json.setting.set_here).toBe(false);
  });
});

describe("GET /v1/admin/settings/audit", () => {
  it("lists every change, newest first, with who, where, old and new value, paged", async () => {
    expect((await cloud.api("PUT", setting("vm.deploy.timeout.ms"), { value: 200_000 })).status).toBe(200);
    expect((await cloud.api("PUT", setting("vm.deploy.timeout.ms"), { value: 210_000 })).status).toBe(200);
    expect((await cloud.api("DELETE", setting("vm.deploy.timeout.ms"))).status).toBe(200);
    const page1 = (await cloud.api("GET", "/v1/admin/settings/audit?name=vm.deploy.timeout.ms&page_size=2")).json;
    expect(page1).toMatchObject({ count: 3, page: 1, page_size: 2 });
    expect(page1.changes.map((c: any) => [c.old_value, c.new_value])).toEqual([[210_000, null], [200_000, 210_000]]);
    expect(page1.changes[0]).toMatchObject({ scope: "global", scope_id: null, user_id: expect.any(Number), api_key_id: expect.any(Number) });
    expect(Date.parse(page1.changes[0].changed_at)).toBeGreaterThan(Date.now() - 60_000);
    const page2 = (await cloud.api("GET", "/v1/admin/settings/audit?name=vm.deploy.timeout.ms&page_size=2&page=2")).json;
    expect(page2.changes.map((c: any) => [c.old_value, c.new_value])).toEqual([[null, 200_000]]);
    const scoped = (await cloud.api("GET", "/v1/admin/settings/audit?name=cpu.overprovisioning.factor")).json.changes;
    expect(scoped.map((c: any) => [c.scope, c.scope_id, c.old_value, c.new_value])).toEqual([["cluster", clusterId, 2, null], ["cluster", clusterId, null, 2]]);
    // The older per-cluster route is the same change: audited too.
    expect((await cloud.api("PUT", `/v1/admin/clusters/${clusterId}/settings/mem.overprovisioning.factor`, { value: 1.5 })).status).toBe(200);
    expect((await cloud.api("GET", "/v1/admin/settings/audit?page_size=1")).json.changes[0]).toMatchObject({ name: "mem.overprovisioning.factor", scope: "cluster", new_value: 1.5 });
    expect((await cloud.api("PUT", `/v1/admin/clusters/${clusterId}/settings/mem.overprovisioning.factor`, { value: null })).status).toBe(200);
  });
});
