// The rows a placement commit writes (VMs, their jobs, allocations, GPU allocations, the hosts'
// new generation), for any number of requests, as ONE statement: data-modifying CTEs fed by JSON
// parameters. So a group commit costs one round trip to PostgreSQL whatever its size, and the
// statement text is the same for every batch (four parameters, whatever the row count).
//
// The statement first locks the hosts (FOR NO KEY UPDATE, in id order: exclusive among host locks, while
// inserts that only refer to a host through a foreign key, e.g. commands, do not wait on it) and checks each is at the
// expected generation; when one is not (or is gone) it writes nothing and says so. Then it locks
// the storage pools the VMs' root disks go to (storage/root-disks.ts) and reserves their sizes;
// when one pool has no room for what the statement puts there it writes nothing and names it. A group commit
// also asks it to write nothing when one of its accounts has limits (or was deleted): those are
// checked under a lock on the account first (account-limits.ts), which one statement cannot do.
// It holds a share lock on its accounts, so an account's deletion (which locks the row for update
// and then counts its VMs) waits for it and sees its VMs.
// Run outside a transaction it is its own transaction: all of it commits, or none.
import { sql } from "drizzle-orm";
import { OrbitError } from "#shared/errors.js";
import type { PlacementPlan, VmPlacement } from "../allocator/types.js";
import type { Db, Tx } from "../db/database.js";
import type { JobInput } from "../jobs/job-input.js";
import type { RunStrategy } from "../vm/vm-lifecycle-options.js";
import type { FullPool } from "../storage/root-disks.js";

/** A VM row a placement writes; its host, vCPUs, memory (and allocations) come from the placement. */
export interface NewVm {
  uuid: string;
  name: string;
  accountId: number;
  /** The user who asked, recorded on the queued job (null: Orbit itself). */
  userId?: number | null;
  environmentId: number;
  flavorId: number;
  imageId: number;
  /** Default "Creating". */
  state?: string;
  labels?: readonly string[];
  userData?: string;
  callbackUrl?: string;
  keyName?: string;
  sshAuthorizedKeys?: readonly string[];
  /** What the placement decided (stored as vms.placement). */
  placement?: Record<string, unknown>;
  runStrategy?: RunStrategy | null;
  haEnabled?: boolean;
  /** Its owned root disk's size (storage/root-disks.ts), reserved in its host's cluster's pool; null/absent: none (it boots from a volume). */
  rootDiskGib?: number | null;
}

/** What a caller of placeAndCommit has written with its placement. */
export interface CommitRows {
  /** The VM row of one placement of the plan (called once per placement). */
  vm: (placement: VmPlacement, plan: PlacementPlan) => NewVm;
  /** A job of this kind (e.g. "vm.deploy") is queued for every VM; none when absent. */
  jobKind?: string;
  /** The queued jobs' input (jobs.input); {} when absent. */
  jobInput?: JobInput;
  /**
   * Further writes in the same transaction once the rows exist (e.g. affinity group members).
   * A request with it is committed in a transaction of its own, not in a group commit.
   */
  after?: (tx: Tx, created: readonly CreatedVm[]) => Promise<void>;
}

/** A VM the commit created, for the placement with this index. */
export interface CreatedVm {
  index: number;
  id: number;
  uuid: string;
  /** Its created_at as written (the commit's time): the create answers with it without reading the row again. */
  createdAt: Date;
  /** The queued job, when CommitRows.jobKind was given. */
  jobId?: number;
}

/** One request's rows, ready for the statement. */
export interface PreparedRows {
  vms: Record<string, unknown>[];
  gpus: Record<string, unknown>[];
  /** uuid → placement index. */
  index: Map<string, number>;
}

/** Builds a request's rows from its plan (throws on a bad row: the request alone is refused). */
export function prepareRows(rows: CommitRows, plan: PlacementPlan): PreparedRows {
  const vms: Record<string, unknown>[] = [];
  const gpus: Record<string, unknown>[] = [];
  const index = new Map<string, number>();
  for (const p of plan.placements) {
    const vm = rows.vm(p, plan);
    const uuid = vm.uuid.toLowerCase();
    if (index.has(uuid)) throw new OrbitError("internal", `two placements for VM ${uuid}`);
    index.set(uuid, p.index);
    const hostId = Number(p.hostId);
    vms.push({
      uuid, name: vm.name, account_id: vm.accountId, user_id: vm.userId ?? null, environment_id: vm.environmentId, flavor_id: vm.flavorId,
      image_id: vm.imageId, host_id: hostId, state: vm.state ?? "Creating", vcpus: p.vcpus, memory_mib: p.memoryMib,
      labels: vm.labels ?? [], user_data: vm.userData ?? "", callback_url: vm.callbackUrl ?? "", placement: vm.placement ?? null,
      key_name: vm.keyName ?? "", ssh_authorized_keys: vm.sshAuthorizedKeys ?? [],
      numa_node: p.numaNode ?? -1, pinned_cpus: p.pinnedCpus ?? [], job_kind: rows.jobKind ?? null,
      job_input: rows.jobInput ?? {}, run_strategy: vm.runStrategy ?? null, ha_enabled: vm.haEnabled ?? false,
      root_disk_gib: vm.rootDiskGib ?? null,
    });
    for (const g of p.gpus) {
      gpus.push({
        uuid, host_id: hostId, gpu_id: Number(g.gpuId), mode: g.mode, vgpu_type: g.vgpuType ?? "",
        share_milli: g.shareMilli ?? (g.mode === "share" ? 0 : 1000),
      });
    }
  }
  return { vms, gpus, index };
}

export interface WriteInput {
  /** The hosts to lock, each with the generation it must still have (undefined: never matches). */
  hosts: readonly { id: number; generation: number | undefined }[];
  /** Their new generation. */
  token: number;
  requests: readonly PreparedRows[];
  /** Write nothing when one of these accounts has a limit or is deleted (it must be checked under lock first). */
  unlimitedAccounts?: readonly number[];
}

/** The VMs written (per request), or why nothing was. */
export type WriteOutcome =
  | { written: CreatedVm[][] }
  | { refused: "host-generation" | "account-limits" }
  /** A pool had no room for the root disks placed in it (those pools, as found under their lock). */
  | { refused: "storage-pool"; pools: FullPool[] };

/**
 * Writes every request's rows in one statement. Returns each request's created VMs (in placement
 * index order), or why nothing was written: a host not at its expected generation, one of
 * `unlimitedAccounts` having a limit, or a storage pool without room for the root disks.
 */
export async function writeRows(db: Db | Tx, input: WriteInput): Promise<WriteOutcome> {
  const res = (await db.execute(sql`
    with want as (
      select * from jsonb_to_recordset(${JSON.stringify(input.hosts)}::jsonb) as w(id integer, generation integer)),
    acct as (
      select id, (max_vms is not null or max_vcpus is not null or max_memory_mib is not null or max_gpus is not null
                  or deleted_at is not null) as limited
      from accounts
      where id in (select value::integer from jsonb_array_elements_text(${JSON.stringify(input.unlimitedAccounts ?? [])}::jsonb))
      order by id for share),
    locked as (
      select h.id from hosts h join want w on w.id = h.id and h.generation = w.generation
      -- Evaluated first (an init plan): accounts are locked before hosts, as in every commit.
      where (select count(*) from acct) >= 0
      order by h.id for no key update of h),
    raw as (
      select * from jsonb_to_recordset(${JSON.stringify(input.requests.flatMap((r) => r.vms))}::jsonb) as x(
        uuid uuid, name text, account_id integer, user_id integer, environment_id integer, flavor_id integer, image_id integer,
        host_id integer, state text, vcpus integer, memory_mib bigint, labels jsonb, user_data text, callback_url text,
        placement jsonb, numa_node integer, pinned_cpus jsonb, job_kind text, key_name text, ssh_authorized_keys jsonb,
        job_input jsonb, run_strategy text, ha_enabled boolean, root_disk_gib integer)),
    -- Each owned root disk's pool: its host's cluster's first local pool, else its first pool.
    disk as (
      select r.uuid, r.root_disk_gib as gib,
             (select p.id from storage_pools p join hosts h on h.cluster_id = p.cluster_id where h.id = r.host_id
              order by (p.kind <> 'local'), p.id limit 1) as pool_id
      from raw r where r.root_disk_gib is not null),
    need as (select pool_id, sum(gib)::bigint as gib from disk where pool_id is not null group by pool_id),
    pool as (
      select p.id, p.name, p.cluster_id, p.capacity_gib, p.allocated_gib from storage_pools p
      -- Locked after the hosts (an init plan again), in id order.
      where p.id in (select pool_id from need) and (select count(*) from locked) >= 0
      order by p.id for update of p),
    short as (
      select pool.*, need.gib as needed from need join pool on pool.id = need.pool_id
      where pool.allocated_gib + need.gib > pool.capacity_gib),
    checks as (
      select (select count(*) from locked) = (select count(*) from want) as hosts_ok,
             exists (select 1 from acct where limited) as limited,
             not exists (select 1 from short) as room),
    ok as (select hosts_ok and not limited and room as ok, hosts_ok, limited, room from checks),
    input as (select * from raw where (select ok from ok)),
    v as (
      insert into vms (uuid, name, account_id, environment_id, flavor_id, image_id, host_id, state, vcpus, memory_mib,
                       labels, user_data, callback_url, placement, key_name, ssh_authorized_keys, run_strategy, ha_enabled,
                       root_disk_pool_id, root_disk_gib)
      select i.uuid, i.name, i.account_id, i.environment_id, i.flavor_id, i.image_id, i.host_id, i.state, i.vcpus, i.memory_mib,
             i.labels, i.user_data, i.callback_url, i.placement, i.key_name, i.ssh_authorized_keys, i.run_strategy, i.ha_enabled,
             d.pool_id, i.root_disk_gib
      from input i left join disk d on d.uuid = i.uuid returning id, uuid, created_at),
    pu as (
      update storage_pools p set allocated_gib = p.allocated_gib + need.gib
      from need where p.id = need.pool_id and (select ok from ok)),
    j as (
      insert into jobs (uuid, kind, vm_id, account_id, user_id, input)
      select gen_random_uuid(), i.job_kind, v.id, i.account_id, i.user_id, i.job_input from v join input i on i.uuid = v.uuid
      where i.job_kind is not null returning id, vm_id),
    a as (
      insert into allocations (vm_id, host_id, vcpus, memory_mib, numa_node, pinned_cpus)
      select v.id, i.host_id, i.vcpus, i.memory_mib, i.numa_node, i.pinned_cpus from v join input i on i.uuid = v.uuid),
    g as (
      insert into gpu_allocations (vm_id, host_id, gpu_id, mode, vgpu_type, share_milli)
      select v.id, x.host_id, x.gpu_id, x.mode, x.vgpu_type, x.share_milli
      from jsonb_to_recordset(${JSON.stringify(input.requests.flatMap((r) => r.gpus))}::jsonb) as x(
        uuid uuid, host_id integer, gpu_id integer, mode text, vgpu_type text, share_milli integer)
      join v on v.uuid = x.uuid),
    u as (update hosts set generation = ${input.token} where id in (select id from want) and (select ok from ok))
    select ok.ok, ok.hosts_ok, ok.limited,
           (select coalesce(jsonb_agg(jsonb_build_object('id', id, 'name', name, 'clusterId', cluster_id, 'capacityGib', capacity_gib,
                                                         'allocatedGib', allocated_gib, 'neededGib', needed) order by id), '[]'::jsonb)
            from short) as short,
           v.id, v.uuid::text as uuid,
           -- ISO 8601 text: parsed alike whatever the driver does with timestamps.
           to_json(v.created_at) #>> '{}' as created_at, j.id as job_id
    from ok left join v on true left join j on j.vm_id = v.id`,
  )) as unknown as { rows: { ok: boolean; hosts_ok: boolean; limited: boolean; short: FullPool[] | string; id: number | null; uuid: string | null; created_at: string | null; job_id: number | null }[] };
  const first = res.rows[0];
  if (first?.ok !== true) {
    if (first?.hosts_ok !== true) return { refused: "host-generation" };
    if (first.limited) return { refused: "account-limits" };
    const pools = typeof first.short === "string" ? JSON.parse(first.short) as FullPool[] : first.short;
    return { refused: "storage-pool", pools: pools.map((p) => ({ ...p, capacityGib: Number(p.capacityGib), allocatedGib: Number(p.allocatedGib), neededGib: Number(p.neededGib) })) };
  }
  const byUuid = new Map(res.rows.map((r) => [r.uuid!, r]));
  return { written: input.requests.map((req) => {
    const out: CreatedVm[] = [];
    for (const [uuid, index] of req.index) {
      const r = byUuid.get(uuid);
      if (r === undefined || r.id === null) throw new OrbitError("internal", `VM ${uuid} was not written`);
      out.push({ index, id: Number(r.id), uuid, createdAt: new Date(r.created_at!), ...(r.job_id !== null && { jobId: Number(r.job_id) }) });
    }
    return out.sort((x, y) => x.index - y.index);
  }) };
}
