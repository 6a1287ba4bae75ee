// Cross-account access, walked route by route from /openapi.json: account A owns one of each
// resource (VM, environment, key pair, volume and its attachment, security rule, snapshot, affinity
// group, job, API key, private image); account B's key calls every user route that takes an id
// with A's ids and must get 404 (never 403, never 200), with the uniform error body, and change
// nothing. A route added later with a path parameter fails "every route is walked" until it is
// given here. So the walk cannot pass on ids that do not exist, A's own GETs answer 200 first.
import { asc } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiKeys, environments, keypairs, securityRules, vmSnapshots, vms } from "../../manager/src/db/schema.js";
import { KEYS } from "../../manager/src/keypairs/testing/ssh-key-fixtures.js";
import { errorShapeProblems, jobsIdle, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

let cloud: TestCloud;
let doc: { paths: Record<string, Record<string, unknown>> };
interface Account { id: number; key: string; keyId: number }
let a: Account;
let b: Account;
/** A's resources, by the name the walk substitutes. */
const ids: Record<string, number | string> = {};

const METHODS = ["get", "post", "put", "patch", "delete"] as const;

async function newAccount(name: string): Promise<Account> {
  const acct = await cloud.api("POST", "/v1/admin/accounts", { name });
  expect(acct.status).toBe(201);
  const k = await cloud.api("POST", `/v1/admin/accounts/${acct.json.account.id}/api-keys`, { name: `${name}-key` });
  expect(k.status).toBe(201);
  return { id: acct.json.account.id, key: k.json.api_key.key, keyId: k.json.api_key.id };
}

async function asA(method: string, path: string, body?: unknown): Promise<Record<string, any>> {
  const r = await cloud.api(method, path, body, a.key);
  expect(r.status, `${method} ${path} as A: ${JSON.stringify(r.json)}`).toBeLessThan(300);
  return r.json;
}

/** The stored state B's calls could change beyond the shared digest: names, labels, keys, rules, snapshots, API keys. */
async function digest(): Promise<string> {
  const db = cloud.manager.database.db;
  const [vmRows, keys, envs, rules, snaps, apiKeyRows] = await Promise.all([
    db.select({ id: vms.id, name: vms.name, labels: vms.labels, key: vms.keyName, callback: vms.callbackUrl, flavor: vms.flavorId }).from(vms).orderBy(asc(vms.id)),
    db.select().from(keypairs).orderBy(asc(keypairs.id)),
    db.select().from(environments).orderBy(asc(environments.id)),
    db.select().from(securityRules).orderBy(asc(securityRules.id)),
    db.select({ id: vmSnapshots.id, name: vmSnapshots.name, state: vmSnapshots.state }).from(vmSnapshots).orderBy(asc(vmSnapshots.id)),
    db.select({ id: apiKeys.id, name: apiKeys.name, revoked: apiKeys.revokedAt }).from(apiKeys).orderBy(asc(apiKeys.id)),
  ]);
  return JSON.stringify({ shared: await stateDigest(cloud), vmRows, keys, envs, rules, snaps, apiKeyRows },
    (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
}

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [{ hostname: "xacct", uuid: "7a000000-0000-4000-8000-00000000000a", cpus: 64, memoryMib: 131072 }] });
  await cloud.waitFor("host up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.[0]?.state === "Up");
  a = await newAccount("xacct-a");
  b = await newAccount("xacct-b");

  ids.env = (await asA("POST", "/v1/core/environments", { name: "xa-env", region: "default" })).environment.id;
  ids.keypair = (await asA("POST", "/v1/core/keypairs", { name: "xa-key", environment_name: "default", public_key: KEYS.ed25519.line })).keypair.id;
  const created = await asA("POST", "/v1/core/virtual-machines", {
    name: "xa-vm", flavor_name: "t1-tiny", image_name: "Debian 12", environment_name: "default", key_name: "xa-key",
  });
  ids.vm = created.instances[0].id;
  ids.job = created.job_id;
  await cloud.waitFor("A's VM running", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${ids.vm}`, undefined, a.key)).json.instance?.status === "ACTIVE");
  ids.vmName = "xa-vm";
  ids.volume = (await asA("POST", "/v1/core/volumes", { name: "xa-vol", environment_name: "default", size: 1, volume_type: "local" })).volume.id;
  await cloud.waitFor("A's volume available", async () => (await cloud.api("GET", `/v1/core/volumes/${ids.volume}`, undefined, a.key)).json.volume?.status === "available");
  const attached = await asA("POST", `/v1/core/virtual-machines/${ids.vm}/attach-volumes`, { volume_ids: [ids.volume] });
  ids.attachment = attached.volume_attachments[0].id;
  await jobsIdle(cloud);
  ids.rule = (await asA("POST", `/v1/core/virtual-machines/${ids.vm}/sg-rules`, {
    direction: "ingress", protocol: "tcp", ethertype: "IPv4", remote_ip_prefix: "0.0.0.0/0", port_range_min: 22, port_range_max: 22,
  })).security_rule.id;
  ids.group = (await asA("POST", "/v1/core/affinity-groups", { name: "xa-group", type: "host-anti-affinity" })).affinity_group.id;
  ids.logRequest = (await asA("POST", `/v1/core/virtual-machines/${ids.vm}/logs`, { length: 5 })).request_id;
  await asA("POST", `/v1/core/virtual-machines/${ids.vm}/attach-callback`, { url: "https://callbacks.example.com/orbit" });
  await asA("POST", `/v1/core/volumes/${ids.volume}/attach-callback`, { url: "https://callbacks.example.com/orbit" });
  await jobsIdle(cloud);
  ids.snapshot = (await asA("POST", `/v1/core/virtual-machines/${ids.vm}/snapshots`, { name: "xa-snap", description: "", memory: false })).snapshot.id;
  ids.snapshotName = "xa-snap";
  await jobsIdle(cloud);
  // A private image: a seeded public one given to A.
  const images = (await cloud.api("GET", "/v1/admin/images")).json.images as { id: number; name: string }[];
  const spare = images.find((i) => i.name !== "Debian 12");
  expect(spare, "a second seeded image").toBeDefined();
  expect((await cloud.api("PATCH", `/v1/admin/images/${spare!.id}`, { account_id: a.id, is_public: false })).status).toBe(200);
  ids.image = spare!.id;

  const res = await fetch(`${cloud.manager.apiUrl}/openapi.json`);
  doc = await res.json() as typeof doc;
}, 180_000);
afterAll(async () => { await cloud?.stop(); });

/** Each parameter of a user route, as A's resource it names (by path prefix, then parameter name). */
function valueOf(path: string, param: string): number | string | undefined {
  if (param === "sg_rule_id") return ids.rule;
  if (param === "name") {
    if (path.startsWith("/v1/core/snapshots/")) return ids.snapshotName;
    if (path.startsWith("/v1/core/virtual-machines/")) return ids.vmName;
    if (path.startsWith("/v1/core/environments/")) return "xa-env";
    if (path.startsWith("/v1/core/volume/")) return "xa-vol";
    return undefined;
  }
  const byPrefix: [string, string][] = [
    ["/v1/core/virtual-machines/", "vm"], ["/v1/core/environments/", "env"], ["/v1/core/keypair/", "keypair"],
    ["/v1/core/snapshots/", "snapshot"], ["/v1/core/volumes/", "volume"], ["/v1/core/volume-attachments/", "attachment"],
    ["/v1/core/affinity-groups/", "group"], ["/v1/core/jobs/", "job"], ["/v1/core/images/", "image"], ["/v1/api-key/", "apiKey"],
  ];
  const hit = byPrefix.find(([p]) => path.startsWith(p));
  if (!hit) return undefined;
  return hit[1] === "apiKey" ? a.keyId : ids[hit[1]];
}

/** Bodies and queries valid for the route, so that only ownership can refuse it. */
const bodies = (): Record<string, unknown> => ({
  "POST /v1/core/virtual-machines/{id}/attach-callback": { url: "https://evil.example.com/x" },
  "PUT /v1/core/virtual-machines/{id}/update-callback": { url: "https://evil.example.com/x" },
  "POST /v1/core/volumes/{volume_id}/attach-callback": { url: "https://evil.example.com/x" },
  "PUT /v1/core/volumes/{volume_id}/update-callback": { url: "https://evil.example.com/x" },
  "POST /v1/core/virtual-machines/{id}/attach-floatingip": {},
  "POST /v1/core/virtual-machines/{id}/attach-iso": { image_id: ids.image },
  "POST /v1/core/virtual-machines/{id}/attach-volumes": { volume_ids: [ids.volume] },
  "POST /v1/core/virtual-machines/{id}/detach-volumes": { volume_ids: [ids.volume] },
  "POST /v1/core/virtual-machines/{id}/clone": { name: "stolen" },
  "POST /v1/core/virtual-machines/{id}/logs": { length: 5 },
  "POST /v1/core/virtual-machines/{id}/reset-ssh-key": { key_name: "xa-key" },
  "POST /v1/core/virtual-machines/{id}/resize": { flavor_name: "s1.small" },
  "POST /v1/core/virtual-machines/{id}/restore": {},
  "POST /v1/core/virtual-machines/{id}/sg-rules": { direction: "ingress", protocol: "tcp", ethertype: "IPv4", remote_ip_prefix: "0.0.0.0/0", port_range_min: 80, port_range_max: 80 },
  "POST /v1/core/virtual-machines/{id}/snapshots": { name: "stolen", description: "" },
  "PUT /v1/core/virtual-machines/{id}/label": { labels: ["stolen"] },
  "PUT /v1/core/virtual-machines/{id}/name": { name: "stolen" },
  "PUT /v1/core/environments/{id}": { name: "stolen" },
  "PUT /v1/core/keypair/{id}": { name: "stolen" },
  "PATCH /v1/core/volumes/{volume_id}": { environment_name: "default" },
  "PATCH /v1/core/volume-attachments/{volume_attachment_id}": { protected: true },
  "PUT /v1/api-key/{api_key_id}": { name: "stolen" },
});
const QUERIES: Record<string, string> = {
  "GET /v1/core/virtual-machines/{id}/metrics": "?duration=1h",
  "GET /v1/core/virtual-machines/{id}/logs": "", // request_id added below
};

interface Call { route: string; method: string; path: string; body: unknown }

/** Every user route with a path parameter, rendered with A's ids; `missing` names what has no value. */
function userRoutes(): { calls: Call[]; missing: string[] } {
  const calls: Call[] = [];
  const missing: string[] = [];
  const BODIES = bodies();
  for (const [template, ops] of Object.entries(doc.paths)) {
    if (!(template.startsWith("/v1/core/") || template.startsWith("/v1/api-key/")) || !template.includes("{")) continue;
    for (const m of METHODS) {
      if (!(m in ops)) continue;
      const route = `${m.toUpperCase()} ${template}`;
      let ok = true;
      const path = template.replace(/\{([a-z_]+)\}/g, (_all, p: string) => {
        const v = valueOf(template, p);
        if (v === undefined) { ok = false; return "?"; }
        return encodeURIComponent(String(v));
      });
      if (!ok) { missing.push(route); continue; }
      let query = QUERIES[route] ?? "";
      if (route === "GET /v1/core/virtual-machines/{id}/logs") query = `?request_id=${ids.logRequest}`;
      const body = BODIES[route] ?? (m === "post" || m === "put" || m === "patch" ? {} : undefined);
      calls.push({ route, method: m.toUpperCase(), path: path + query, body });
    }
  }
  return { calls, missing };
}

const isNameCheck = (route: string) => route.includes("name-availability");
/** GET routes that only read (Hyperstack's power actions are GETs too). */
const READ_ENDINGS = new Set(["events", "metrics", "logs", "snapshots", "callback-deliveries", "vm-quota"]);
const isRead = (c: Call) => c.method === "GET" && !isNameCheck(c.route)
  && (c.route.endsWith("}") || READ_ENDINGS.has(c.route.split("/").pop()!));

describe("another account's resources, on every route that takes an id", () => {
  it("every user route with a path parameter is walked", () => {
    const { calls, missing } = userRoutes();
    expect(missing).toEqual([]);
    // The walk is not empty: the VM's own routes alone are dozens.
    expect(calls.filter((c) => c.route.includes("/virtual-machines/{id}")).length).toBeGreaterThan(25);
  });

  it("A reads its own resources on every GET route (the ids are real)", async () => {
    const reads = userRoutes().calls.filter(isRead);
    expect(reads.length).toBeGreaterThan(10);
    for (const c of reads) {
      const r = await cloud.api("GET", c.path, undefined, a.key);
      expect(r.status, `${c.route} as A: ${JSON.stringify(r.json)}`).toBe(200);
    }
  });

  it("B gets 404 on every one of them, with the uniform error body, and nothing changes", async () => {
    await jobsIdle(cloud);
    const before = await digest();
    const wrong: string[] = [];
    for (const c of userRoutes().calls.filter((x) => !isNameCheck(x.route))) {
      const r = await cloud.api(c.method, c.path, c.body, b.key);
      if (r.status !== 404) wrong.push(`${c.route}: ${r.status} ${JSON.stringify(r.json)}`);
      else expect(errorShapeProblems(r.status, r.json), c.route).toEqual([]);
    }
    expect(wrong).toEqual([]);
    await jobsIdle(cloud);
    expect(await digest()).toBe(before);
  });

  it("names are per account: A's names are free for B, taken for A", async () => {
    for (const c of userRoutes().calls.filter((x) => isNameCheck(x.route))) {
      const forB = await cloud.api("GET", c.path, undefined, b.key);
      const forA = await cloud.api("GET", c.path, undefined, a.key);
      expect([c.route, forB.status, forA.status]).toEqual([c.route, 200, 200]);
      expect([c.route, forB.json.available, forA.json.available]).toEqual([c.route, true, false]);
    }
  });
});

describe("another account's resources named in a body", () => {
  it("B's own VM cannot take A's volume, private image, key pair or affinity group: answered as if they did not exist, nothing changes", async () => {
    const created = await cloud.api("POST", "/v1/core/virtual-machines", { name: "xb-vm", flavor_name: "t1-tiny", image_name: "Debian 12", environment_name: "default" }, b.key);
    expect(created.status).toBe(200);
    const bVm = created.json.instances[0].id as number;
    await jobsIdle(cloud);
    const vm = (name: string) => ({ name, flavor_name: "t1-tiny", image_name: "Debian 12", environment_name: "default" });
    const volume = { name: "xb-vol", environment_name: "default", size: 1, volume_type: "local" };
    const privateName = (await cloud.api("GET", `/v1/core/images/${ids.image}`, undefined, a.key)).json.image.name as string;
    const before = await digest();
    // Each with a twin naming something that does not exist at all: B must not tell them apart.
    const attempts: [string, string, unknown, unknown][] = [
      ["POST", `/v1/core/virtual-machines/${bVm}/attach-volumes`, { volume_ids: [ids.volume] }, { volume_ids: [999_999] }],
      ["POST", `/v1/core/virtual-machines/${bVm}/attach-iso`, { image_id: ids.image }, { image_id: 999_999 }],
      ["POST", "/v1/core/virtual-machines", { ...vm("xb-key"), key_name: "xa-key" }, { ...vm("xb-key"), key_name: "no-such-key" }],
      ["POST", "/v1/core/virtual-machines", { ...vm("xb-img"), image_name: privateName }, { ...vm("xb-img"), image_name: "No Such Image" }],
      ["POST", "/v1/core/virtual-machines", { ...vm("xb-grp"), affinity_group_names: ["xa-group"] }, { ...vm("xb-grp"), affinity_group_names: ["no-such-group"] }],
      ["POST", "/v1/core/volumes", { ...volume, image_id: ids.image }, { ...volume, image_id: 999_999 }],
    ];
    for (const [method, path, body, twin] of attempts) {
      const r = await cloud.api(method, path, body, b.key);
      const ghost = await cloud.api(method, path, twin, b.key);
      const what = `${method} ${path} ${JSON.stringify(body)}`;
      expect([what, r.status]).toEqual([what, ghost.status]);
      expect(r.status, what).toBeGreaterThanOrEqual(400);
      expect(r.status, what).toBeLessThan(500);
      expect(errorShapeProblems(r.status, r.json)).toEqual([]);
    }
    await jobsIdle(cloud);
    expect(await digest()).toBe(before);
  });
});
