// The API's shape, seen by a client touring it: every GET route, creates, the dry run, errors of
// every kind. JSON keys are snake_case everywhere; every error body has one shape; users see
// their VMs and a capacity summary, never the fleet's hosts; the README says what is sent.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { L40S_VGPU_TYPES } from "../../dev/simulated-fleet.js";
import { KEYS } from "../../manager/src/keypairs/testing/ssh-key-fixtures.js";
import { createUserKey, errorShapeProblems, jobsIdle, jsonKeys, startTestCloud, type TestCloud } from "./harness.js";

const H100 = "NVIDIA H100 80GB HBM3";
let cloud: TestCloud;
let userKey: string;

interface Seen { route: string; status: number; json: Record<string, any>; asUser?: boolean }
const seen: Seen[] = [];

/** One request of the tour, recorded under its route template (e.g. "GET /v1/core/jobs/{id}"). */
async function call(route: string, path: string, body?: unknown, key?: string | null, headers?: Record<string, string>): Promise<Seen> {
  const method = route.split(" ")[0]!;
  const r = await cloud.api(method, path, body, key, headers);
  const s = { route, status: r.status, json: r.json, asUser: key === userKey };
  seen.push(s);
  return s;
}

async function raw(route: string, path: string, init: RequestInit): Promise<Seen> {
  const res = await fetch(`${cloud.manager.apiUrl}${path}`, init);
  const s = { route, status: res.status, json: (await res.json()) as Record<string, any> };
  seen.push(s);
  return s;
}

beforeAll(async () => {
  cloud = await startTestCloud({
    hosts: [
      { hostname: "tour-cpu", uuid: "70000000-0000-4000-8000-000000000001", cpus: 8, memoryMib: 16384, numaCells: 2 },
      { hostname: "tour-h100", uuid: "70000000-0000-4000-8000-000000000002", cpus: 64, memoryMib: 256 * 1024, numaCells: 2, gpus: [{ model: H100, memoryMib: 81559, count: 2 }] },
      { hostname: "tour-l40s", uuid: "70000000-0000-4000-8000-000000000003", cpus: 32, memoryMib: 128 * 1024, gpus: [{ model: "NVIDIA L40S", memoryMib: 46068, count: 2, vgpuTypes: L40S_VGPU_TYPES }] },
    ],
  });
  await cloud.waitFor("3 hosts up", async () => {
    const hosts = (await cloud.api("GET", "/v1/admin/hosts")).json.hosts as { state: string }[];
    return hosts.length === 3 && hosts.every((h) => h.state === "Up");
  });
  userKey = await createUserKey(cloud, "tour-user");
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

describe("a tour of the API", () => {
  let adminVm: Record<string, any>;
  let userVm: Record<string, any>;
  let admin409: Record<string, any>;
  let user409: Record<string, any>;

  it("walks every route", async () => {
    await call("GET /v1/core/flavors", "/v1/core/flavors");
    const images = await call("GET /v1/core/images", "/v1/core/images");
    await call("GET /v1/core/images/{id}", `/v1/core/images/${images.json.images[0].images[0].id}`);
    const hosts = await call("GET /v1/admin/hosts", "/v1/admin/hosts");
    const hostId = hosts.json.hosts[0].id;
    await call("GET /v1/admin/settings", "/v1/admin/settings");
    await call("GET /v1/admin/managers", "/v1/admin/managers");
    await call("GET /v1/admin/settings/{name}", "/v1/admin/settings/cpu.overprovisioning.factor");
    await call("PUT /v1/admin/settings/{name}", "/v1/admin/settings/vm.deploy.timeout.ms", { value: 180_000 });
    const clusters = await call("GET /v1/admin/clusters", "/v1/admin/clusters");
    await call("PUT /v1/admin/clusters/{id}/settings/{name}", `/v1/admin/clusters/${clusters.json.clusters[0].id}/settings/mem.overprovisioning.factor`, { value: 1.5 });
    await call("GET /v1/admin/clusters", "/v1/admin/clusters");
    await call("PUT /v1/admin/hosts/{id}", `/v1/admin/hosts/${hostId}`, { resource_state: "Enabled" });
    await call("GET /v1/admin/hosts/{id}/certificates", `/v1/admin/hosts/${hostId}/certificates`);
    await call("GET /v1/admin/hosts/{id}", `/v1/admin/hosts/${hostId}`);
    await call("GET /v1/admin/hosts/{id}/maintenance", `/v1/admin/hosts/${hostId}/maintenance`); // 409: not in maintenance
    await call("POST /v1/admin/hosts/{id}/maintenance", `/v1/admin/hosts/${hostId}/maintenance`, {});
    await call("GET /v1/admin/hosts/{id}/maintenance", `/v1/admin/hosts/${hostId}/maintenance`);
    await call("DELETE /v1/admin/hosts/{id}/maintenance", `/v1/admin/hosts/${hostId}/maintenance`);
    await call("DELETE /v1/admin/hosts/{id}", "/v1/admin/hosts/99999"); // 404

    const flavor = await call("POST /v1/admin/flavors", "/v1/admin/flavors", { name: "tour-small", cpu: 1, ram: 1, host_tags: ["x"] });
    expect(flavor.status).toBe(201);
    await call("GET /v1/admin/flavors", "/v1/admin/flavors");
    await call("GET /v1/admin/flavors/{id}", `/v1/admin/flavors/${flavor.json.flavor.id}`);
    await call("POST /v1/admin/flavors", "/v1/admin/flavors", { name: "tour-small", cpu: 1, ram: 1 }); // 409 already exists
    await call("DELETE /v1/admin/flavors/{id}", `/v1/admin/flavors/${flavor.json.flavor.id}`);
    const adminImages = await call("GET /v1/admin/images", "/v1/admin/images");
    await call("GET /v1/admin/images/{id}", `/v1/admin/images/${adminImages.json.images[0].id}`);
    await call("POST /v1/admin/images", "/v1/admin/images", { name: "tour-image", url: "ftp://example.com/x.qcow2", checksum: `sha256:${"0".repeat(64)}`, type: "qcow2" }); // 400

    const token = await call("POST /v1/admin/registration-tokens", "/v1/admin/registration-tokens", { note: "tour" });
    await call("GET /v1/admin/registration-tokens", "/v1/admin/registration-tokens");
    await call("DELETE /v1/admin/registration-tokens/{id}", `/v1/admin/registration-tokens/${token.json.registration_token.id}`);
    const acct = await call("POST /v1/admin/accounts", "/v1/admin/accounts", { name: "tour-account", limits: { vms: 5 } });
    await call("GET /v1/admin/accounts", "/v1/admin/accounts");
    await call("GET /v1/admin/accounts/{id}", `/v1/admin/accounts/${acct.json.account.id}`);
    await call("GET /v1/admin/accounts/{id}/api-keys", `/v1/admin/accounts/${acct.json.account.id}/api-keys`);
    const tourUser = await call("POST /v1/admin/accounts/{id}/users", `/v1/admin/accounts/${acct.json.account.id}/users`, { name: "tour-user" });
    await call("GET /v1/admin/accounts/{id}/users", `/v1/admin/accounts/${acct.json.account.id}/users`);
    await call("GET /v1/admin/accounts/{id}/users/{user_id}", `/v1/admin/accounts/${acct.json.account.id}/users/${tourUser.json.user.id}`);
    await call("GET /v1/admin/accounts/{id}/users/{user_id}/api-keys", `/v1/admin/accounts/${acct.json.account.id}/users/${tourUser.json.user.id}/api-keys`);
    await call("GET /v1/auth/me", "/v1/auth/me", undefined, userKey);
    await call("GET /v1/api-key", "/v1/api-key", undefined, userKey);

    const group = await call("POST /v1/core/affinity-groups", "/v1/core/affinity-groups", { name: "tour-group", type: "host-anti-affinity" }, userKey);
    expect(group.status).toBe(201);

    const created = await call("POST /v1/core/virtual-machines", "/v1/core/virtual-machines", { name: "tour-h100", flavor_name: "n3-H100x1", image_name: "Debian 12" });
    expect(created.status).toBe(200);
    adminVm = created.json.instances[0];
    const vgpu = await call("POST /v1/core/virtual-machines", "/v1/core/virtual-machines", {
      name: "tour-vgpu", flavor_name: "n3-L40S-12Q", image_name: "Debian 12", affinity_group_names: ["tour-group"],
    }, userKey);
    expect(vgpu.status).toBe(200);
    userVm = vgpu.json.instances[0];
    await jobsIdle(cloud);
    await call("GET /v1/core/virtual-machines", "/v1/core/virtual-machines");
    await call("GET /v1/core/virtual-machines", "/v1/core/virtual-machines?page=1&page_size=10", undefined, userKey);
    await call("GET /v1/core/virtual-machines/{id}", `/v1/core/virtual-machines/${adminVm.id}`);
    await call("GET /v1/core/virtual-machines/{id}", `/v1/core/virtual-machines/${userVm.id}`, undefined, userKey);
    await call("GET /v1/core/virtual-machines/{id}/metrics", `/v1/core/virtual-machines/${userVm.id}/metrics?duration=1h`, undefined, userKey);
    const logs = await call("POST /v1/core/virtual-machines/{id}/logs", `/v1/core/virtual-machines/${userVm.id}/logs`, { length: 5 }, userKey);
    await call("GET /v1/core/virtual-machines/{id}/logs", `/v1/core/virtual-machines/${userVm.id}/logs?request_id=${logs.json.request_id}`, undefined, userKey);
    await call("GET /v1/core/jobs/{id}", `/v1/core/jobs/${created.json.job_id}`);
    await call("GET /v1/core/jobs/{id}", `/v1/core/jobs/${vgpu.json.job_id}`, undefined, userKey);
    await call("GET /v1/core/virtual-machines/{id}/events", `/v1/core/virtual-machines/${userVm.id}/events`, undefined, userKey);
    await call("GET /v1/core/virtual-machines/{id}/callback-deliveries", `/v1/core/virtual-machines/${userVm.id}/callback-deliveries`, undefined, userKey);
    await call("GET /v1/core/sg-rules-protocols", "/v1/core/sg-rules-protocols", undefined, userKey);
    const rule = await call("POST /v1/core/virtual-machines/{id}/sg-rules", `/v1/core/virtual-machines/${userVm.id}/sg-rules`,
      { direction: "ingress", ethertype: "IPv4", protocol: "tcp", remote_ip_prefix: "0.0.0.0/0", port_range_min: 22, port_range_max: 22 }, userKey);
    await call("DELETE /v1/core/virtual-machines/{id}/sg-rules/{sg_rule_id}", `/v1/core/virtual-machines/${userVm.id}/sg-rules/${rule.json.security_rule.id}`, undefined, userKey);
    await jobsIdle(cloud);
    // The VM's actions, each settled before the next.
    for (const action of ["stop", "start", "hard-reboot", "hibernate", "hibernate-restore"]) {
      const r = await call(`GET /v1/core/virtual-machines/{id}/${action}`, `/v1/core/virtual-machines/${userVm.id}/${action}`, undefined, userKey);
      expect(r.status, action).toBe(200);
      await jobsIdle(cloud);
    }
    // A CPU VM moved live (its local disk copied) to whichever host the allocator picks.
    const mover = await call("POST /v1/core/virtual-machines", "/v1/core/virtual-machines", { name: "tour-mover", flavor_name: "n1-cpu-small", image_name: "Debian 12" });
    expect(mover.status).toBe(200);
    await jobsIdle(cloud);
    const moverId = mover.json.instances[0].id;
    await call("GET /v1/admin/virtual-machines/{id}/migration-hosts", `/v1/admin/virtual-machines/${moverId}/migration-hosts`);
    const moved = await call("POST /v1/admin/virtual-machines/{id}/migrate", `/v1/admin/virtual-machines/${moverId}/migrate`, { host: "auto", storage_motion: true });
    expect(moved.status, JSON.stringify(moved.json)).toBe(200);
    await jobsIdle(cloud);
    await call("GET /v1/admin/virtual-machines/{id}/migrations", `/v1/admin/virtual-machines/${moverId}/migrations`);
    await call("GET /v1/admin/migrations/{id}", `/v1/admin/migrations/${moved.json.migration.migration_id}`);
    await call("GET /v1/core/callbacks/signing-secret", "/v1/core/callbacks/signing-secret", undefined, userKey);
    await call("GET /v1/core/affinity-groups", "/v1/core/affinity-groups", undefined, userKey);
    await call("GET /v1/core/affinity-groups/{id}", `/v1/core/affinity-groups/${group.json.affinity_group.id}`, undefined, userKey);
    await call("DELETE /v1/core/affinity-groups/{id}", `/v1/core/affinity-groups/${group.json.affinity_group.id}`, undefined, userKey); // 409 in use
    const keypair = await call("POST /v1/core/keypairs", "/v1/core/keypairs", { environment_name: "default", name: "tour-key", public_key: KEYS.ed25519.line }, userKey);
    expect(keypair.status).toBe(200);
    await call("GET /v1/core/keypairs", "/v1/core/keypairs", undefined, userKey);
    await call("GET /v1/core/keypair/{id}", `/v1/core/keypair/${keypair.json.keypair.id}`, undefined, userKey);
    await call("GET /v1/core/regions", "/v1/core/regions", undefined, userKey);
    await call("GET /v1/core/environments", "/v1/core/environments", undefined, userKey);
    await call("GET /v1/core/environments/{id}", `/v1/core/environments/${keypair.json.keypair.environment.id}`, undefined, userKey);
    await call("GET /v1/core/environments/{id}/vm-quota", `/v1/core/environments/${keypair.json.keypair.environment.id}/vm-quota`, undefined, userKey);
    await call("GET /v1/core/environments/name-availability/{name}", "/v1/core/environments/name-availability/tour-env", undefined, userKey);
    await call("GET /v1/core/virtual-machines/name-availability/{name}", "/v1/core/virtual-machines/name-availability/tour-vm?count=2", undefined, userKey);
    await call("GET /v1/admin/environments/{id}/network", `/v1/admin/environments/${keypair.json.keypair.environment.id}/network`);
    // Volumes: one attached to the user's VM, so the VM and the volume show the attachment.
    await call("GET /v1/core/volume-types", "/v1/core/volume-types", undefined, userKey);
    await call("GET /v1/core/volume/name-availability/{name}", "/v1/core/volume/name-availability/tour-vol", undefined, userKey);
    const volume = await call("POST /v1/core/volumes", "/v1/core/volumes", { name: "tour-vol", environment_name: "default", size: 1, volume_type: "local" }, userKey);
    expect(volume.status).toBe(200);
    const attached = await call("POST /v1/core/virtual-machines/{id}/attach-volumes", `/v1/core/virtual-machines/${userVm.id}/attach-volumes`, { volume_ids: [volume.json.volume.id] }, userKey);
    expect(attached.status).toBe(200);
    await jobsIdle(cloud);
    await call("GET /v1/core/volumes", "/v1/core/volumes", undefined, userKey);
    await call("GET /v1/core/volumes/{volume_id}", `/v1/core/volumes/${volume.json.volume.id}`, undefined, userKey);
    await call("GET /v1/core/volumes/{volume_id}/callback-deliveries", `/v1/core/volumes/${volume.json.volume.id}/callback-deliveries`, undefined, userKey);
    await call("GET /v1/core/virtual-machines/{id}", `/v1/core/virtual-machines/${userVm.id}`, undefined, userKey);
    // A snapshot of the user's VM (with its volume in it), listed for the account and the VM.
    const snapshot = await call("POST /v1/core/virtual-machines/{id}/snapshots", `/v1/core/virtual-machines/${userVm.id}/snapshots`, { name: "tour-snap", description: "tour" }, userKey);
    expect(snapshot.status).toBe(201);
    await jobsIdle(cloud);
    await call("GET /v1/core/snapshots", "/v1/core/snapshots", undefined, userKey);
    await call("GET /v1/core/snapshots/{id}", `/v1/core/snapshots/${snapshot.json.snapshot.id}`, undefined, userKey);
    await call("GET /v1/core/virtual-machines/{id}/snapshots", `/v1/core/virtual-machines/${userVm.id}/snapshots`, undefined, userKey);
    await call("GET /v1/core/snapshots/name-availability/{name}", "/v1/core/snapshots/name-availability/tour-snap", undefined, userKey);
    const pools = await call("GET /v1/admin/storage-pools", "/v1/admin/storage-pools");
    await call("GET /v1/admin/storage-pools/{id}", `/v1/admin/storage-pools/${pools.json.storage_pools[0].id}`);
    const hostsWithVms = await call("GET /v1/admin/hosts", "/v1/admin/hosts");
    expect(hostsWithVms.json.hosts.some((h: any) => h.gpus.some((g: any) => g.allocations.length > 0))).toBe(true);

    await call("POST /v1/admin/placement/dry-run", "/v1/admin/placement/dry-run", { flavor_name: "n3-H100x1", seed: 1 });
    await call("POST /v1/admin/placement/dry-run", "/v1/admin/placement/dry-run", { flavor_name: "n3-H100x8", image_name: "Debian 12" });
    admin409 = (await call("POST /v1/core/virtual-machines", "/v1/core/virtual-machines", { name: "too-big", flavor_name: "n3-H100x8", image_name: "Debian 12" })).json;
    user409 = (await call("POST /v1/core/virtual-machines", "/v1/core/virtual-machines", { name: "too-big", flavor_name: "n3-H100x8", image_name: "Debian 12" }, userKey)).json;

    // Errors of every kind.
    await call("POST /v1/core/virtual-machines", "/v1/core/virtual-machines", { name: "x", flavor_name: "n1-cpu-small", image_name: "Debian 12", count: "2" });
    await call("POST /v1/core/virtual-machines", "/v1/core/virtual-machines", { name: "x", flavor_name: "no-such", image_name: "Debian 12" });
    await call("POST /v1/core/virtual-machines", "/v1/core/virtual-machines", "{\"name\":");
    await call("GET /v1/core/virtual-machines/{id}", "/v1/core/virtual-machines/0x10");
    await call("GET /v1/core/virtual-machines/{id}", "/v1/core/virtual-machines/999999");
    await call("GET /v1/core/virtual-machines", "/v1/core/virtual-machines", undefined, null);
    await call("GET /v1/admin/hosts", "/v1/admin/hosts", undefined, userKey);
    await call("GET /v1/admin/settings/{name}", "/v1/admin/settings/no.such.setting");
    await call("GET /nothing", "/v1/core/nothing-here");
    await raw("POST /v1/core/virtual-machines", "/v1/core/virtual-machines", {
      method: "POST", headers: { api_key: "orb_test_admin_key_0123456789", "content-type": "application/xml" }, body: "<vm/>",
    });
    await raw("POST /v1/core/virtual-machines", "/v1/core/virtual-machines", {
      method: "POST", headers: { api_key: "orb_test_admin_key_0123456789", "content-type": "application/json" },
      body: JSON.stringify({ name: "big", flavor_name: "n1-cpu-small", image_name: "Debian 12", user_data: "x".repeat(1_100_000) }),
    });
    await call("POST /v1/core/virtual-machines", "/v1/core/virtual-machines", { name: "idem", flavor_name: "no-such", image_name: "Debian 12" }, undefined, { "idempotency-key": "bad key with spaces" });

    const clusterId = (await cloud.api("GET", "/v1/admin/clusters")).json.clusters[0].id;
    await call("DELETE /v1/admin/settings/{name}", `/v1/admin/settings/mem.overprovisioning.factor?scope=cluster&scope_id=${clusterId}`);
    await call("GET /v1/admin/settings/audit", "/v1/admin/settings/audit?page_size=2");
    const deleted = await call("DELETE /v1/core/virtual-machines/{id}", `/v1/core/virtual-machines/${adminVm.id}`);
    expect(deleted.status).toBe(200);
    await jobsIdle(cloud);
  }, 60_000);

  it("covers every GET route of the OpenAPI document", async () => {
    const spec = await cloud.api("GET", "/openapi.json", undefined, null);
    expect(spec.status).toBe(200);
    const gets = Object.entries(spec.json.paths as Record<string, Record<string, unknown>>)
      .filter(([, ops]) => "get" in ops).map(([path]) => `GET ${path}`);
    expect(gets.length).toBeGreaterThan(10);
    const toured = new Set(seen.filter((s) => s.status < 300).map((s) => s.route));
    expect(gets.filter((g) => !toured.has(g))).toEqual([]);
  });

  it("answers snake_case JSON keys only", () => {
    const camel = seen.flatMap((s) => jsonKeys(s.json).filter((k) => /[a-z0-9][A-Z]/.test(k.split(".").pop()!)).map((k) => `${s.route} → ${s.status}: ${k}`));
    expect(camel).toEqual([]);
    // The tour did meet the fields that used to be camelCase.
    const keys = new Set(seen.flatMap((s) => jsonKeys(s.json).map((k) => k.split(".").pop()!.replace(/\[\d+\]$/, ""))));
    for (const k of ["memory_mib", "type_id", "max_instances", "framebuffer_mib", "available_instances", "gpu_id", "vm_index", "host_name", "decided_at"]) {
      expect(keys, k).toContain(k);
    }
  });

  it("answers every error with the same body: status, message, error_reason, code (field, request_id)", () => {
    const errors = seen.filter((s) => s.status >= 400);
    expect(new Set(errors.map((e) => e.status))).toEqual(new Set([400, 401, 403, 404, 409, 413, 415]));
    for (const e of errors) expect(errorShapeProblems(e.status, e.json), `${e.route} → ${e.status} ${JSON.stringify(e.json).slice(0, 300)}`).toEqual([]);
    const byCode = (status: number) => errors.filter((e) => e.status === status).map((e) => e.json.code);
    expect(byCode(413)).toEqual(["payload_too_large"]);
    expect(byCode(415)).toEqual(["unsupported_media_type"]);
    expect(byCode(400)).toEqual(expect.arrayContaining(["invalid_argument"]));
    expect(errors.find((e) => e.route === "GET /nothing")!.json.code).toBe("not_found");
    expect(errors.find((e) => e.route === "GET /v1/admin/settings/{name}")!.json).toMatchObject({ code: "not_found", message: expect.stringMatching(/no\.such\.setting/) });
  });

  it("shows users their VM and a capacity summary, never the fleet's hosts", () => {
    const hostNames = ["tour-cpu", "tour-h100", "tour-l40s"];
    const userAnswers = JSON.stringify(seen.filter((s) => s.asUser && s.status !== 403));
    expect(userAnswers).toContain("tour-vgpu");
    // The user's own VM: no host name, no placement scores.
    expect(userVm.host).toBeNull();
    expect(userVm.placement).toBeNull();
    for (const h of hostNames) expect(userAnswers).not.toContain(h);
    const userJob = seen.find((s) => s.asUser && s.route === "GET /v1/core/jobs/{id}")!.json.job;
    expect(userJob.status).toBe("succeeded");
    expect(userJob.result).toEqual({});
    expect(seen.find((s) => !s.asUser && s.route === "GET /v1/core/jobs/{id}")!.json.job.result).toEqual({ host_id: expect.any(Number) });
    // 409 for a user: counts per filter, no host ids, names or free capacity.
    expect(user409).toMatchObject({ status: false, code: "insufficient_capacity", summary: { hosts_refused: 3 } });
    expect(user409.rejections).toBeUndefined();
    expect(user409.summary.by_filter.reduce((n: number, f: any) => n + f.hosts, 0)).toBe(3);
    for (const h of hostNames) expect(JSON.stringify(user409)).not.toContain(h);
    // Admins see where and why.
    expect(adminVm.host).toBe("tour-h100");
    expect(adminVm.placement).toMatchObject({ host: "tour-h100", gpus: [{ gpu_id: expect.any(String), model: H100, mode: "passthrough" }] });
    expect(adminVm.placement.scores.length).toBeGreaterThan(0);
    expect(admin409.rejections).toHaveLength(3);
    expect(admin409.rejections[0]).toEqual({
      host_id: expect.any(String), host_name: expect.any(String), filter: expect.any(String), reason: expect.any(String),
      code: expect.any(String), unresolvable: expect.any(Boolean),
    });
  });

  it("README: the 409 body's fields are the ones sent, and the create limit is documented", async () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const paragraph = readme.split(/\n\s*\n/).find((p) => p.includes("insufficient_capacity") && p.includes("rejections"));
    expect(paragraph, "README paragraph on the 409 insufficient_capacity body").toBeDefined();
    const documented = new Set([...paragraph!.matchAll(/`([a-z_]+)(?:\[\])?`/g)].map((m) => m[1]!));
    const sent = new Set([admin409, user409].flatMap((b) => jsonKeys(b).map((k) => k.split(".").pop()!.replace(/\[\d+\]$/, ""))));
    expect([...sent].filter((k) => !documented.has(k))).toEqual([]);
    const values = new Set(["insufficient_capacity", "now", "never"]);
    expect([...documented].filter((k) => !sent.has(k) && !values.has(k))).toEqual([]);

    const spec = (await cloud.api("GET", "/openapi.json", undefined, null)).json;
    const create = spec.paths["/v1/core/virtual-machines"].post.requestBody.content["application/json"].schema;
    const max = create.properties.count.maximum as number;
    const header = spec.paths["/v1/core/virtual-machines"].post.parameters.find((p: any) => p.in === "header");
    expect(header).toMatchObject({ name: "idempotency-key", required: false });
    expect(max).toBe(20);
    expect(readme).toMatch(new RegExp("`count`[^\\n]{0,40}\\b" + max + "\\b"));
  });
});

describe("GET /v1/admin/settings/{name}", () => {
  it("answers one setting with its range, and 404 naming an unknown one", async () => {
    const one = await cloud.api("GET", "/v1/admin/settings/cpu.overprovisioning.factor");
    expect(one).toMatchObject({ status: 200, json: { status: true, setting: { name: "cpu.overprovisioning.factor", value: 1, default: 1, is_default: true, min: expect.any(Number), max: expect.any(Number) } } });
    const unknown = await cloud.api("GET", "/v1/admin/settings/no.such.setting");
    expect(unknown).toMatchObject({ status: 404, json: { status: false, code: "not_found", error_reason: "not_found" } });
    expect(unknown.json.message).toContain("no.such.setting");
    expect((await cloud.api("GET", "/v1/admin/settings/cpu.overprovisioning.factor", undefined, userKey)).status).toBe(403);
  });
});
