// What a start's spec is built from besides the VM's row (its image, allocation, GPUs, security
// rules, network and addresses, boot volume, ISO, attached volumes), read by ONE statement: a
// deploy or start reads them in one round trip instead of one each. The same rows as the
// separate reads (loadVmNetworking, bootVolumeDisk, isoOfVm, attachedVolumeDisks...) would give.
import { sql } from "drizzle-orm";
import type { DiskSpec } from "#shared/protocol.js";
import { OrbitError } from "#shared/errors.js";
import type { Db, Tx } from "../db/database.js";
import { rowFromJson } from "../db/json-rows.js";
import { allocations, gpuAllocations, gpus, images, networks, securityRules, volumes, type vms } from "../db/schema.js";
import { vmNetworking, type VmNetworking } from "../network/vm-network.js";
import { toStored, type StoredSecurityRule } from "../security-rules/security-rule-service.js";
import { volumeDisk } from "../storage/volume-disks.js";

type VmRow = typeof vms.$inferSelect;
type Json = Record<string, unknown>;

export interface StartInputs {
  image: typeof images.$inferSelect;
  alloc: typeof allocations.$inferSelect | undefined;
  /** Its GPUs on its host only (a migration holds the destination's as rows of the VM too). */
  gpuRows: { a: typeof gpuAllocations.$inferSelect; g: typeof gpus.$inferSelect }[];
  rules: StoredSecurityRule[];
  networking: VmNetworking | undefined;
  bootDisk: DiskSpec | undefined;
  iso: { image: typeof images.$inferSelect | undefined; rootDiskGib: number };
  /** Attached volumes (attached or detaching, not the boot volume), oldest first; [] unless asked for. */
  volumeDisks: DiskSpec[];
}

/** The VM's start inputs (see the file comment); `withVolumes`: its attached volumes too. */
export async function loadStartInputs(db: Db | Tx, vm: VmRow, o: { withVolumes?: boolean } = {}): Promise<StartInputs> {
  const res = (await db.execute(sql`
    with net as (select * from networks where environment_id = ${vm.environmentId} limit 1)
    select
      (select row_to_json(i) from images i where i.id = ${vm.imageId}) as image,
      (select row_to_json(a) from allocations a where a.vm_id = ${vm.id} limit 1) as alloc,
      (select coalesce(json_agg(json_build_object('a', row_to_json(ga), 'g', row_to_json(g)) order by ga.id), '[]'::json)
         from gpu_allocations ga join gpus g on g.id = ga.gpu_id
         where ga.vm_id = ${vm.id} and (${vm.hostId}::integer is null or ga.host_id = ${vm.hostId}::integer)) as gpus,
      (select coalesce(json_agg(row_to_json(r) order by r.id), '[]'::json) from security_rules r where r.vm_id = ${vm.id}) as rules,
      (select row_to_json(net) from net) as network,
      (select coalesce(json_agg(json_build_object('kind', ip.kind, 'address', ip.address)), '[]'::json)
         from ip_allocations ip where ip.network_id = (select id from net) and ip.vm_uuid = ${vm.uuid.toLowerCase()}::uuid) as addresses,
      (select json_build_object('v', row_to_json(v), 'image_path', bi.path) from volumes v left join images bi on bi.id = v.image_id
         where v.id = ${vm.bootVolumeId}::integer) as boot,
      (select f.disk_gib from flavors f where f.id = ${vm.flavorId}) as flavor_disk_gib,
      (select row_to_json(ii) from images ii where ii.id = ${vm.isoImageId}::integer) as iso,
      ${o.withVolumes === true ? sql`(select coalesce(json_agg(row_to_json(v) order by va.id), '[]'::json)
         from volume_attachments va join volumes v on v.id = va.volume_id
         where va.vm_id = ${vm.id} and va.status in ('attached', 'detaching')
           and (${vm.bootVolumeId}::integer is null or v.id <> ${vm.bootVolumeId}::integer))` : sql`'[]'::json`} as volumes`,
  )) as unknown as { rows: Record<string, unknown>[] };
  const r = res.rows[0]!;
  // Drivers differ: json may come parsed or as text.
  const j = <T>(v: unknown): T => (typeof v === "string" ? JSON.parse(v) : v) as T;
  const image = j<Json | null>(r.image);
  if (!image) throw new OrbitError("internal", `VM ${vm.id}'s image ${vm.imageId} does not exist`);
  const alloc = j<Json | null>(r.alloc);
  const boot = j<{ v: Json; image_path: string | null } | null>(r.boot);
  const iso = j<Json | null>(r.iso);
  const network = j<Json | null>(r.network);
  return {
    image: rowFromJson(images, image),
    alloc: alloc ? rowFromJson(allocations, alloc) : undefined,
    gpuRows: j<{ a: Json; g: Json }[]>(r.gpus).map(({ a, g }) => ({ a: rowFromJson(gpuAllocations, a), g: rowFromJson(gpus, g) })),
    rules: j<Json[]>(r.rules).map((x) => toStored(rowFromJson(securityRules, x))),
    networking: vmNetworking(vm, network ? rowFromJson(networks, network) : undefined, j<{ kind: string; address: string }[]>(r.addresses)),
    bootDisk: boot ? { ...volumeDisk(rowFromJson(volumes, boot.v)), backingPath: boot.image_path ?? "" } : undefined,
    iso: { image: iso ? rowFromJson(images, iso) : undefined, rootDiskGib: r.flavor_disk_gib == null ? 0 : Number(r.flavor_disk_gib) },
    volumeDisks: j<Json[]>(r.volumes).map((v) => volumeDisk(rowFromJson(volumes, v))),
  };
}

/** The VM's security rules and networking as they are now, by one statement (the firewall a start's end compares with what it sent). */
export async function loadFirewallInputs(
  db: Db | Tx, vm: Pick<VmRow, "id" | "uuid" | "environmentId">,
): Promise<{ rules: StoredSecurityRule[]; networking: VmNetworking | undefined }> {
  const res = (await db.execute(sql`
    with net as (select * from networks where environment_id = ${vm.environmentId} limit 1)
    select
      (select coalesce(json_agg(row_to_json(r) order by r.id), '[]'::json) from security_rules r where r.vm_id = ${vm.id}) as rules,
      (select row_to_json(net) from net) as network,
      (select coalesce(json_agg(json_build_object('kind', ip.kind, 'address', ip.address)), '[]'::json)
         from ip_allocations ip where ip.network_id = (select id from net) and ip.vm_uuid = ${vm.uuid.toLowerCase()}::uuid) as addresses`,
  )) as unknown as { rows: Record<string, unknown>[] };
  const r = res.rows[0]!;
  const j = <T>(v: unknown): T => (typeof v === "string" ? JSON.parse(v) : v) as T;
  const network = j<Json | null>(r.network);
  return {
    rules: j<Json[]>(r.rules).map((x) => toStored(rowFromJson(securityRules, x))),
    networking: vmNetworking(vm, network ? rowFromJson(networks, network) : undefined, j<{ kind: string; address: string }[]>(r.addresses)),
  };
}
