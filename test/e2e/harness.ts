// Starts a real manager (HTTP + gRPC on loopback, ports chosen by the OS) and simulated agents
// in this process, on PostgreSQL when TEST_DATABASE_URL is set, else on in-memory PGlite.
import { asc, count, ne, sql } from "drizzle-orm";
import pino from "pino";
import { ApiKeyService } from "../../manager/src/auth/api-key-service.js";
import {
  affinityGroups, allocations, flavors, gpuAllocations, idempotencyKeys, images, ipAllocations, jobs, registrationTokens, settings, storagePools, vms,
  volumeAttachments, volumes,
} from "../../manager/src/db/schema.js";
import { loadManagerConfig } from "../../manager/src/config.js";
import { scratchDatabaseUrl } from "../../manager/src/db/database.js";
import { startManager, type RunningManager } from "../../manager/src/manager.js";
import { startSimulatedFleet, type FleetOptions, type SimulatedFleet, type SimulatedHostSpec } from "../../dev/simulated-fleet.js";

export const ADMIN_KEY = "orb_test_admin_key_0123456789";

export interface TestCloud {
  manager: RunningManager;
  fleet: SimulatedFleet;
  /** A JSON request; a string body is sent as is (malformed JSON...). */
  api(method: string, path: string, body?: unknown, key?: string | null, headers?: Record<string, string>): Promise<{ status: number; json: Record<string, any>; headers: Headers }>;
  waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

export async function startTestCloud(opts: {
  hosts: SimulatedHostSpec[];
  env?: Record<string, string>;
  fleet?: Partial<FleetOptions>;
  /** Global settings in force from the start (no grace period, unlike a change through the API). */
  settings?: Record<string, unknown>;
}): Promise<TestCloud> {
  const db = await scratchDatabaseUrl("orbit_e2e", { migrated: true });
  const config = loadManagerConfig({
    ORBIT_API_PORT: "0", ORBIT_GRPC_PORT: "0", ORBIT_DATA_DIR: ":memory:", ORBIT_ADMIN_KEY: ADMIN_KEY,
    ...(db.url ? { DATABASE_URL: db.url } : {}), ...opts.env,
  }, { profile: "embedded" });
  const log = pino({ level: process.env.ORBIT_TEST_LOG ?? "silent" });
  const manager = await startManager(config, log, { ...(opts.settings ? { initialSettings: opts.settings } : {}) });
  const fleet = await startSimulatedFleet({
    managerAddress: manager.grpcAddress, joinToken: manager.agentToken, log, hosts: opts.hosts,
    heartbeatIntervalMs: 300, startDelayMs: 50,
    ...(manager.grpcTls ? { tls: { caPem: Buffer.from(manager.caPem) } } : {}), ...opts.fleet,
  });
  const api: TestCloud["api"] = async (method, path, body, key = ADMIN_KEY, extraHeaders = {}) => {
    const headers: Record<string, string> = { ...extraHeaders };
    if (key) headers.api_key = key;
    let payload: string | undefined;
    if (body !== undefined) {
      headers["content-type"] ??= "application/json";
      payload = typeof body === "string" ? body : JSON.stringify(body);
    }
    const res = await fetch(`${manager.apiUrl}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : {}, headers: res.headers };
  };
  const waitFor: TestCloud["waitFor"] = async (what, fn, timeoutMs = 15_000) => {
    const end = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < end) {
      last = await fn();
      if (last) return last as never;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
  };
  return {
    manager, fleet, api, waitFor,
    stop: async () => {
      await fleet.stop();
      await manager.close();
      await db.drop();
    },
  };
}

/** A key of a new user (not admin) account. */
export async function createUserKey(cloud: TestCloud, account: string): Promise<string> {
  return new ApiKeyService(cloud.manager.database.db).createKey(account, "user", `${account} test key`);
}

/**
 * Waits until no job is pending or running (VM states and allocations stop changing by
 * themselves), nor failed with its failure hook (the VM, snapshot... to Error) still at work.
 * `exceptKinds`: jobs of these kinds may still run (a blocked maintenance runs until cancelled).
 */
export async function jobsIdle(cloud: TestCloud, opts: { exceptKinds?: string[] } = {}): Promise<void> {
  const db = cloud.manager.database.db;
  const except = opts.exceptKinds?.length ? sql` and ${jobs.kind} not in ${opts.exceptKinds}` : sql``;
  await cloud.waitFor("jobs to finish", async () => {
    const [{ n }] = (await db.select({ n: count() }).from(jobs)
      .where(sql`${jobs.status} in ('pending', 'running')${except}`)) as [{ n: number }];
    return Number(n) === 0 && cloud.manager.jobs.failingJobIds().length === 0;
  });
}

/**
 * What a refused request must not change: VMs, allocations (CPU, memory, GPUs), jobs, settings,
 * flavors, images, affinity groups, registration tokens, idempotency records, IP addresses given out,
 * volumes, their attachments and storage pools, read from the database. (An environment's
 * network, created with its first create, is not in it.) A caller whose earlier steps started
 * deploys waits for them first (jobsIdle): a VM moving from Starting to Running between two
 * digests is not a change the refused request made.
 */
export async function stateDigest(cloud: TestCloud): Promise<string> {
  const db = cloud.manager.database.db;
  const n = async (q: Promise<{ n: number }[]>) => Number((await q)[0]!.n);
  const [vmRows, alloc, gpu, jobCount, settingRows, flavorCount, groupCount, tokenRows, idem, ips, volumeRows, attachmentRows, poolRows, imageRows] = await Promise.all([
    db.select({ id: vms.id, state: vms.state, deleted: vms.deletedAt, iso: vms.isoImageId }).from(vms).where(ne(vms.state, "Destroyed")).orderBy(asc(vms.id)),
    db.select({ n: count(), vcpus: sql<number>`coalesce(sum(${allocations.vcpus}),0)::int`, mem: sql<number>`coalesce(sum(${allocations.memoryMib}),0)::bigint` }).from(allocations),
    n(db.select({ n: count() }).from(gpuAllocations)),
    n(db.select({ n: count() }).from(jobs)),
    db.select({ name: settings.name, scope: settings.scope, value: settings.value }).from(settings).orderBy(asc(settings.scope), asc(settings.name)),
    n(db.select({ n: count() }).from(flavors)),
    n(db.select({ n: count() }).from(affinityGroups)),
    db.select({ id: registrationTokens.id, revoked: registrationTokens.revokedAt }).from(registrationTokens).orderBy(asc(registrationTokens.id)),
    n(db.select({ n: count() }).from(idempotencyKeys)),
    db.select({ kind: ipAllocations.kind, address: ipAllocations.address, vm: ipAllocations.vmUuid }).from(ipAllocations).orderBy(asc(ipAllocations.id)),
    db.select({ id: volumes.id, status: volumes.status, env: volumes.environmentId, host: volumes.hostId, deleted: volumes.deletedAt }).from(volumes).orderBy(asc(volumes.id)),
    db.select({ volume: volumeAttachments.volumeId, vm: volumeAttachments.vmId, status: volumeAttachments.status }).from(volumeAttachments).orderBy(asc(volumeAttachments.volumeId)),
    db.select({ id: storagePools.id, name: storagePools.name, capacity: storagePools.capacityGib, allocated: storagePools.allocatedGib }).from(storagePools).orderBy(asc(storagePools.id)),
    db.select({ id: images.id, name: images.name, status: images.status }).from(images).orderBy(asc(images.id)),
  ]);
  return JSON.stringify({
    vms: vmRows.map((v) => [v.id, v.state, v.deleted !== null, v.iso]), allocations: alloc.map((a) => [Number(a.n), Number(a.vcpus), Number(a.mem)]),
    gpu, jobs: jobCount, settings: settingRows, flavors: flavorCount, groups: groupCount,
    tokens: tokenRows.map((t) => [t.id, t.revoked !== null]), idempotency: idem,
    ips: ips.map((a) => [a.kind, a.address, a.vm]),
    volumes: volumeRows.map((v) => [v.id, v.status, v.env, v.host, v.deleted !== null]),
    attachments: attachmentRows.map((a) => [a.volume, a.vm, a.status]), pools: poolRows.map((p) => [p.id, p.name, p.capacity, p.allocated]),
    images: imageRows.map((i) => [i.id, i.name, i.status]),
  });
}

/** Every JSON object key (with its path) in a value. */
export function jsonKeys(v: unknown, path = "$"): string[] {
  if (Array.isArray(v)) return v.flatMap((x, i) => jsonKeys(x, `${path}[${i}]`));
  if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => [`${path}.${k}`, ...jsonKeys(x, `${path}.${k}`)]);
  return [];
}

/** The uniform error body (README, Errors); returns what is wrong, empty when it conforms. */
export function errorShapeProblems(status: number, body: Record<string, any>): string[] {
  const p: string[] = [];
  if (body.status !== false) p.push("status is not false");
  for (const k of ["message", "error_reason", "code"]) if (typeof body[k] !== "string" || body[k] === "") p.push(`${k} missing`);
  if (status >= 500 && typeof body.request_id !== "string") p.push("request_id missing on a 5xx");
  if (status === 400 && body.code === "invalid_argument" && typeof body.field !== "string") p.push("field missing on a 400");
  if ("field" in body && typeof body.field !== "string") p.push("field is not a string");
  return p;
}
