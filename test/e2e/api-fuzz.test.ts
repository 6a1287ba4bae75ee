// Property-based fuzzing of the HTTP API against a real test cloud (seeded, bounded): bodies of
// the wrong types, NUL and control characters, huge numbers, odd ids, extra fields, bad query
// strings, odd Idempotency-Keys, across the VM, volume, key pair, environment, flavor and admin
// routes. Whatever is sent: never a 5xx; every 4xx has the uniform error body; and a 4xx changed
// nothing (VMs with their names and labels, allocations, jobs, settings, key pairs, environments,
// flavors, accounts... read from the database). 150 runs (CI's time); 2,000 with ORBIT_FAULTS_FULL=1.
import { generateKeyPairSync } from "node:crypto";
import { asc } from "drizzle-orm";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accounts, environments, flavors, keypairs, vms } from "../../manager/src/db/schema.js";
import { errorShapeProblems, jobsIdle, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

const NUM_RUNS = process.env.ORBIT_FAULTS_FULL === "1" ? 2000 : 150;
/** Seeded (the same requests every run); ORBIT_FUZZ_SEED explores others (a failure prints its seed and path). */
const SEED = Number(process.env.ORBIT_FUZZ_SEED ?? 20261204);

/** An OpenSSH ed25519 public key line: string "ssh-ed25519", string key (RFC 4253 wire format). */
function ed25519PublicKey(): string {
  const raw = generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([str(Buffer.from("ssh-ed25519")), str(raw)]).toString("base64")} fuzz`;
}
const PUBLIC_KEY = ed25519PublicKey();

/**
 * The shared digest plus what these routes may change and it does not hold: VMs' names, labels and
 * sizes, key pairs, environments, flavors (every column) and accounts.
 */
async function digest(): Promise<string> {
  const db = cloud.manager.database.db;
  const [vmRows, keys, envs, flavorRows, accountRows] = await Promise.all([
    db.select({ id: vms.id, name: vms.name, labels: vms.labels, flavor: vms.flavorId, vcpus: vms.vcpus, mem: vms.memoryMib, key: vms.keyName }).from(vms).orderBy(asc(vms.id)),
    db.select().from(keypairs).orderBy(asc(keypairs.id)),
    db.select().from(environments).orderBy(asc(environments.id)),
    db.select().from(flavors).orderBy(asc(flavors.id)),
    db.select().from(accounts).orderBy(asc(accounts.id)),
  ]);
  return JSON.stringify({ shared: await stateDigest(cloud), vmRows, keys, envs, flavorRows, accountRows }, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
}

let cloud: TestCloud;
beforeAll(async () => {
  cloud = await startTestCloud({
    hosts: [
      { hostname: "fuzz-a", uuid: "73000000-0000-4000-8000-000000000001", cpus: 16, memoryMib: 32768 },
      { hostname: "fuzz-g", uuid: "73000000-0000-4000-8000-000000000002", cpus: 64, memoryMib: 256 * 1024, gpus: [{ model: "NVIDIA H100 80GB HBM3", memoryMib: 81559, count: 2 }] },
    ],
  });
  await cloud.waitFor("hosts up", async () => {
    const hosts = (await cloud.api("GET", "/v1/admin/hosts")).json.hosts as { state: string }[] | undefined;
    return hosts?.length === 2 && hosts.every((h) => h.state === "Up");
  });
  // Something for ids to hit.
  expect((await cloud.api("POST", "/v1/core/virtual-machines", { name: "fuzz-vm", flavor_name: "n1-cpu-small", image_name: "Debian 12" })).status).toBe(200);
  expect((await cloud.api("POST", "/v1/core/affinity-groups", { name: "fuzz-g", type: "host-anti-affinity" })).status).toBe(201);
  expect((await cloud.api("POST", "/v1/core/keypairs", { environment_name: "default", name: "fuzz-key", public_key: PUBLIC_KEY })).status).toBeLessThan(300);
  expect((await cloud.api("POST", "/v1/core/environments", { name: "fuzz-env", region: "default" })).status).toBeLessThan(300);
  await jobsIdle(cloud);
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

const TRICKY_STRINGS = [
  "", " ", "\u0000", "a\u0000b", "\u0007", "line\nbreak", "tab\t", "\u007f", "Infinity", "-Infinity", "NaN", "0x10", "1e9", "1e309",
  "-1", "0", "016", "+1", " 1", "1.0", "99999999999999999999", "-".repeat(36), "null", "true", "[]", "{}", "%00", "../../etc",
  "n1-cpu-small", "Debian 12", "x".repeat(300), "é", "\ud800", "💥", "default", "fuzz-key", "fuzz-env",
];
/** Far past every field's maxLength; the last is past the body limit (413). */
const HUGE_STRINGS = ["x".repeat(70_000), "é".repeat(40_000), "a\u0000".repeat(20_000), "y".repeat(1_100_000)];
const TRICKY_NUMBERS = [0, -0, -1, 0.5, 1.5, 2 ** 31, 2 ** 31 - 1, 2 ** 53, Number.MAX_SAFE_INTEGER + 2, 1e21, 1e308, -1e308, Number.MIN_VALUE];

const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...TRICKY_STRINGS),
  fc.constantFrom(...HUGE_STRINGS),
  fc.string({ maxLength: 20, unit: "binary" }),
  fc.constantFrom(...TRICKY_NUMBERS),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(["\ud800"], ["a\u0000"], ["\udc00x"], [""]),
  fc.array(fc.oneof(fc.constantFrom(...TRICKY_STRINGS), fc.integer(), fc.constant(null)), { maxLength: 3 }),
  fc.dictionary(fc.constantFrom("a", "name", "__proto__", "constructor"), fc.constantFrom(...TRICKY_STRINGS), { maxKeys: 2 }),
);

interface Target { method: string; path: string; body?: Record<string, unknown> }

/** Valid requests, which the fuzzer then breaks ({id} and {name} are filled in by it). */
const TARGETS: Target[] = [
  { method: "POST", path: "/v1/core/virtual-machines", body: { name: "fz", flavor_name: "n1-cpu-small", image_name: "Debian 12", count: 1, labels: ["a"], user_data: "#!", avoid: [1], affinity_group_names: ["fuzz-g"] } },
  { method: "POST", path: "/v1/core/affinity-groups", body: { name: "fzg", type: "host-affinity", strict: true, description: "d" } },
  { method: "POST", path: "/v1/admin/flavors", body: { name: "fzf", cpu: 1, ram: 1, disk: 1, gpu: "NVIDIA H100 80GB HBM3", gpu_count: 1, host_tags: ["t"] } },
  { method: "POST", path: "/v1/admin/registration-tokens", body: { note: "n", expires_in_seconds: 60 } },
  { method: "POST", path: "/v1/admin/placement/dry-run", body: { flavor_name: "n1-cpu-small", image_name: "Debian 12", count: 1, seed: 1, account_id: 1 } },
  { method: "PUT", path: "/v1/admin/settings/{name}", body: { value: 1 } },
  { method: "PUT", path: "/v1/admin/clusters/{id}/settings/{name}", body: { value: 1 } },
  { method: "PUT", path: "/v1/admin/hosts/{id}", body: { resource_state: "Enabled" } },
  { method: "GET", path: "/v1/core/virtual-machines/{id}" },
  { method: "DELETE", path: "/v1/core/virtual-machines/{id}" },
  { method: "GET", path: "/v1/core/jobs/{id}" },
  { method: "GET", path: "/v1/core/affinity-groups/{id}" },
  { method: "DELETE", path: "/v1/core/affinity-groups/{id}" },
  { method: "GET", path: "/v1/admin/flavors/{id}" },
  { method: "DELETE", path: "/v1/admin/registration-tokens/{id}" },
  { method: "GET", path: "/v1/admin/hosts/{id}/certificates" },
  { method: "GET", path: "/v1/admin/settings/{name}" },
  { method: "GET", path: "/v1/core/virtual-machines" },
  { method: "POST", path: "/v1/core/volumes", body: { name: "fzv", environment_name: "default", size: 1, volume_type: "local", description: "d" } },
  { method: "GET", path: "/v1/core/volumes" },
  { method: "GET", path: "/v1/core/volumes/{id}" },
  { method: "DELETE", path: "/v1/core/volumes/{id}" },
  { method: "POST", path: "/v1/core/virtual-machines/{id}/attach-volumes", body: { volume_ids: [1], protected: false } },
  { method: "POST", path: "/v1/core/virtual-machines/{id}/detach-volumes", body: { volume_ids: [1] } },
  { method: "POST", path: "/v1/admin/storage-pools", body: { name: "fzp", cluster_id: 1, kind: "shared", path: "/mnt/f", capacity_gib: 1 } },
  { method: "PATCH", path: "/v1/admin/storage-pools/{id}", body: { capacity_gib: 10 } },
  // A VM's own routes.
  { method: "PUT", path: "/v1/core/virtual-machines/{id}/label", body: { labels: ["a", "b"] } },
  { method: "PUT", path: "/v1/core/virtual-machines/{id}/name", body: { name: "fz-renamed" } },
  { method: "POST", path: "/v1/core/virtual-machines/{id}/resize", body: { flavor_name: "n1-cpu-medium" } },
  { method: "POST", path: "/v1/core/virtual-machines/{id}/reset-ssh-key", body: { key_name: "fuzz-key" } },
  { method: "POST", path: "/v1/core/virtual-machines/{id}/sg-rules", body: { direction: "ingress", protocol: "tcp", ethertype: "IPv4", remote_ip_prefix: "0.0.0.0/0", port_range_min: 22, port_range_max: 22 } },
  { method: "GET", path: "/v1/core/virtual-machines/{id}/events" },
  { method: "GET", path: "/v1/core/virtual-machines/{id}/metrics" },
  { method: "GET", path: "/v1/core/virtual-machines/{id}/stop" },
  { method: "GET", path: "/v1/core/virtual-machines/name-availability/{name}" },
  // Volumes.
  { method: "PATCH", path: "/v1/core/volumes/{id}", body: { name: "fzv2", description: "d" } },
  { method: "PATCH", path: "/v1/core/volume-attachments/{id}", body: { protected: true } },
  // Key pairs.
  { method: "POST", path: "/v1/core/keypairs", body: { environment_name: "default", name: "fzk", public_key: PUBLIC_KEY } },
  { method: "POST", path: "/v1/core/keypairs/generate", body: { environment_name: "default", name: "fzk2", key_type: "ed25519" } },
  { method: "GET", path: "/v1/core/keypairs" },
  { method: "GET", path: "/v1/core/keypair/{id}" },
  { method: "PUT", path: "/v1/core/keypair/{id}", body: { name: "fzk3" } },
  { method: "DELETE", path: "/v1/core/keypair/{id}" },
  // Environments.
  { method: "POST", path: "/v1/core/environments", body: { name: "fze", region: "default" } },
  { method: "GET", path: "/v1/core/environments" },
  { method: "GET", path: "/v1/core/environments/{id}" },
  { method: "PUT", path: "/v1/core/environments/{id}", body: { name: "fze2" } },
  { method: "DELETE", path: "/v1/core/environments/{id}" },
  { method: "GET", path: "/v1/core/environments/{id}/vm-quota" },
  { method: "GET", path: "/v1/core/environments/name-availability/{name}" },
  // Flavors and other admin routes.
  { method: "PUT", path: "/v1/admin/flavors/{id}", body: { cpu: 2, ram: 1, disk: 1 } },
  { method: "POST", path: "/v1/admin/flavors/{id}/retire" },
  { method: "DELETE", path: "/v1/admin/flavors/{id}" },
  { method: "GET", path: "/v1/admin/flavors" },
  { method: "POST", path: "/v1/admin/accounts", body: { name: "fza", limits: { max_vms: 1 } } },
  { method: "PUT", path: "/v1/admin/accounts/{id}", body: { name: "fza2", limits: { max_vms: 2 } } },
  { method: "POST", path: "/v1/admin/regions", body: { name: "fzr", description: "d" } },
  { method: "PUT", path: "/v1/admin/virtual-machines/{id}/ha", body: { ha_priority: 1 } },
  { method: "GET", path: "/v1/admin/hosts" },
];
const SETTING_NAMES = ["cpu.overprovisioning.factor", "vm.strict.host.tags", "ping.interval", "vm.allocation.algorithm", "host.memory.reserve.mib", "no.such"];

type BodyMutation =
  | { kind: "set"; field: string; value: unknown }
  | { kind: "delete"; field: string }
  | { kind: "replace"; value: unknown }
  | { kind: "raw"; text: string }
  | { kind: "none" };

const bodyMutation = (fields: string[]): fc.Arbitrary<BodyMutation> => fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("set" as const), field: fc.constantFrom(...fields, "extra_field", "Name", "status"), value: weirdValue }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("delete" as const), field: fc.constantFrom(...fields) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("replace" as const), value: weirdValue }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("raw" as const), text: fc.oneof(fc.constantFrom("{", "{\"name\":", "[1,", "nul", "\u0000", "{\"a\":1}}"), fc.string({ maxLength: 10 })) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "none" as const }) },
);

const pathValue = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...TRICKY_STRINGS).filter((s) => s !== "" && s !== "../../etc") },
  { weight: 2, arbitrary: fc.constantFrom("1", "2", "3", "999999") },
  { weight: 1, arbitrary: fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String) },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 8 }) },
);

const query = fc.array(fc.tuple(
  fc.constantFrom("page", "page_size", "pageSize", "search", "page[]", "environment", "sort", "state", "unknown_param", "__proto__"),
  fc.oneof(fc.constantFrom(...TRICKY_STRINGS), fc.integer().map(String), fc.constant("z".repeat(5000))),
), { maxLength: 3 });

const fuzzRequest = fc.integer({ min: 0, max: TARGETS.length - 1 }).chain((t) => {
  const target = TARGETS[t]!;
  return fc.record({
    target: fc.constant(target),
    id: pathValue,
    name: fc.oneof(fc.constantFrom(...SETTING_NAMES), fc.constantFrom(...TRICKY_STRINGS).filter((s) => s !== "" && s !== "../../etc")),
    mutation: target.body ? bodyMutation(Object.keys(target.body)) : fc.constant({ kind: "none" as const }),
    query: target.method === "GET" ? query : fc.constant([]),
    idempotencyKey: target.method === "POST" ? fc.option(fc.constantFrom("k-1", "k-2", "bad key", "x".repeat(300), "é"), { nil: undefined }) : fc.constant(undefined),
  });
});

/** Percent-encodes; a lone surrogate becomes bytes that are not UTF-8 (the server must cope). */
function enc(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return "%ED%A0%80";
  }
}

function render(r: { target: Target; id: string; name: string; mutation: BodyMutation; query: readonly (readonly [string, string])[] | undefined }): { path: string; body: unknown } {
  let path = r.target.path.replace("{id}", enc(r.id)).replace("{name}", enc(r.name));
  if (r.query?.length) path += `?${r.query.map(([k, v]) => `${enc(k)}=${enc(v)}`).join("&")}`;
  if (!r.target.body) return { path, body: undefined };
  const m = r.mutation;
  switch (m.kind) {
    case "none": return { path, body: r.target.body };
    case "raw": return { path, body: m.text === "" ? " " : m.text };
    case "replace": return { path, body: JSON.stringify(m.value) ?? "null" };
    case "delete": { const b = { ...r.target.body }; delete b[m.field]; return { path, body: b }; }
    case "set": return { path, body: { ...r.target.body, [m.field]: m.value } };
  }
}

describe("API fuzz", () => {
  it("never answers 5xx; 4xx bodies are uniform and change nothing", async () => {
    let before = await digest();
    const seen = new Map<number, number>();
    await fc.assert(fc.asyncProperty(fuzzRequest, async (req) => {
      const { path, body } = render(req);
      const headers = req.idempotencyKey ? { "idempotency-key": req.idempotencyKey } : undefined;
      const r = await cloud.api(req.target.method, path, body, undefined, headers);
      seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
      const what = `${req.target.method} ${path.slice(0, 300)} ${(typeof body === "string" ? body : JSON.stringify(body) ?? "").slice(0, 500)} → ${r.status} ${JSON.stringify(r.json).slice(0, 500)}`;
      expect(r.status, what).toBeLessThan(500);
      if (r.status >= 400) {
        expect(errorShapeProblems(r.status, r.json), what).toEqual([]);
        expect(await digest(), what.slice(0, 2000)).toBe(before);
      } else {
        // A request that happened to be valid may change things: wait for its jobs, take a new baseline.
        await jobsIdle(cloud);
        before = await digest();
      }
    }), { seed: SEED, numRuns: NUM_RUNS, endOnFailure: true });
    process.stdout.write(`api-fuzz: ${NUM_RUNS} runs (seed ${SEED}), answers by status ${JSON.stringify(Object.fromEntries([...seen].sort((a, b) => a[0] - b[0])))}\n`);
    // The run reached both refusals and, now and then, valid requests.
    expect([...seen.keys()].some((s) => s >= 400)).toBe(true);
    expect((seen.get(400) ?? 0)).toBeGreaterThan(100);
  }, NUM_RUNS * 300 + 60_000);
});
