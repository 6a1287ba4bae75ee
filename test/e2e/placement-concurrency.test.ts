// 64 concurrent deploys through the HTTP API into a nearly full fleet, with CPU, passthrough GPU
// and vGPU flavors contending for the same hosts and GPUs (vertical packing sends them to the
// same host first). Afterwards, straight from the database: no host allocated beyond its
// over-provisioned capacity, no GPU passed through twice or shared between passthrough and
// vGPU, one vGPU type per GPU within its instance limit, and every request either fully
// committed or refused with a clean 409 insufficient_capacity leaving nothing half-created.
// Runs on PostgreSQL when TEST_DATABASE_URL is set (CI), else on PGlite.
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gpus as gpuTable } from "../../manager/src/db/schema.js";
import { startTestCloud, type TestCloud } from "./harness.js";

const H100 = "NVIDIA H100 80GB HBM3";
const GIB = 1024;
const CPU_FACTOR = 2;
const MEM_FACTOR = 1;
const RESERVE_MIB = 2048;

const cpuHost = (n: number) => ({
  hostname: `cc-cpu-${n}`, uuid: `cc000000-0000-4000-8000-00000000000${n}`, cpus: 8, memoryMib: 16 * GIB, numaCells: 1,
});
const gpuHost = (n: number) => ({
  hostname: `cc-gpu-${n}`, uuid: `cc000000-0000-4000-8000-00000000010${n}`, cpus: 16, memoryMib: 64 * GIB, numaCells: 2,
  gpus: [{ model: H100, memoryMib: 81559, count: 4 }],
});
const HOSTS = [cpuHost(1), cpuHost(2), cpuHost(3), cpuHost(4), gpuHost(1), gpuHost(2)];

const FLAVORS = [
  { name: "cc-c2", cpu: 2, ram: 2 },
  { name: "cc-c4", cpu: 4, ram: 4 },
  { name: "cc-g1", cpu: 4, ram: 8, gpu: H100, gpu_count: 1 },
  { name: "cc-g2", cpu: 8, ram: 16, gpu: H100, gpu_count: 2 },
  { name: "cc-v20", cpu: 2, ram: 4, gpu: H100, vgpu_type: "H100-20C" },
  { name: "cc-v40", cpu: 2, ram: 4, gpu: H100, vgpu_type: "H100-40C" },
];
const VGPU_MAX: Record<string, number> = { "H100-20C": 4, "H100-40C": 2 };

let cloud: TestCloud;

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: HOSTS });
  await cloud.waitFor("hosts up", async () => {
    const r = await cloud.api("GET", "/v1/admin/hosts");
    return r.json.hosts?.length === HOSTS.length && r.json.hosts.every((h: any) => h.state === "Up");
  });
  for (const [name, value] of Object.entries({
    "cpu.overprovisioning.factor": CPU_FACTOR,
    "mem.overprovisioning.factor": MEM_FACTOR,
    // Let hosts fill up completely: the test is about host and GPU capacity.
    "cluster.cpu.allocated.capacity.disablethreshold": 1,
    "cluster.memory.allocated.capacity.disablethreshold": 1,
    "vm.allocation.algorithm": "firstfit",
    "vm.allocation.mode": "vertical",
  })) {
    expect((await cloud.api("PUT", `/v1/admin/settings/${name}`, { value })).status).toBe(200);
  }
  for (const f of FLAVORS) expect((await cloud.api("POST", "/v1/admin/flavors", f)).status).toBe(201);
  // The simulator does not advertise vGPU types yet: give the H100s two time-sliced profiles.
  await cloud.manager.database.db.update(gpuTable).set({
    vgpuTypes: Object.entries(VGPU_MAX).map(([name, max], i) => ({
      typeId: `nvidia-70${i}`, name, availableInstances: max, maxInstances: max, framebufferMib: (80 * GIB) / max,
    })),
  });
  // Nearly full before the burst: 8 small VMs and one passthrough + two vGPU VMs.
  for (const [flavor, count] of [["cc-c2", 8], ["cc-g1", 1], ["cc-v20", 2]] as const) {
    const r = await cloud.api("POST", "/v1/core/virtual-machines", { name: `pre-${flavor}`, flavor_name: flavor, image_name: "Debian 12", count });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
  }
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

async function rows<T>(query: ReturnType<typeof sql>): Promise<T[]> {
  const r = (await cloud.manager.database.db.execute(query)) as unknown as { rows: T[] };
  return r.rows;
}

describe("placement under concurrency", () => {
  it("64 concurrent deploys never over-commit a host or a GPU and leave nothing half-created", async () => {
    const mix: { flavor: string; count: number }[] = [
      ...Array.from({ length: 20 }, () => ({ flavor: "cc-c2", count: 1 })),
      ...Array.from({ length: 4 }, () => ({ flavor: "cc-c2", count: 2 })),
      ...Array.from({ length: 8 }, () => ({ flavor: "cc-c4", count: 1 })),
      ...Array.from({ length: 10 }, () => ({ flavor: "cc-g1", count: 1 })),
      ...Array.from({ length: 4 }, () => ({ flavor: "cc-g2", count: 1 })),
      ...Array.from({ length: 10 }, () => ({ flavor: "cc-v20", count: 1 })),
      ...Array.from({ length: 8 }, () => ({ flavor: "cc-v40", count: 1 })),
    ];
    expect(mix).toHaveLength(64);
    const results = await Promise.all(mix.map((m, i) => cloud.api("POST", "/v1/core/virtual-machines", {
      name: `burst-${i}`, flavor_name: m.flavor, image_name: "Debian 12", count: m.count,
    })));

    // Every request: all its VMs committed, or a clean capacity refusal naming hosts.
    let createdVms = 0;
    const refused: number[] = [];
    results.forEach((r, i) => {
      if (r.status === 200) {
        expect(r.json.instances).toHaveLength(mix[i]!.count);
        createdVms += r.json.instances.length;
      } else {
        expect(r.status, JSON.stringify(r.json)).toBe(409);
        expect(r.json.error_reason).toBe("insufficient_capacity");
        expect(r.json.rejections.length).toBeGreaterThan(0);
        for (const h of r.json.rejections) {
          expect(h.host_name).toMatch(/^cc-/);
          expect(h.filter).toBeTruthy();
          expect(h.reason).toBeTruthy();
        }
        refused.push(i);
      }
    });
    // GPU demand (10 + 8 passthrough GPUs, 4.5 GPUs of vGPU) exceeds the 8 GPUs: some are refused.
    expect(refused.length).toBeGreaterThan(0);
    expect(createdVms).toBeGreaterThan(0);
    // No burst VM row exists for a refused request.
    const names = await rows<{ name: string }>(sql`select name from vms where name like 'burst-%'`);
    for (const i of refused) expect(names.some((n) => n.name === `burst-${i}` || n.name.startsWith(`burst-${i}-`))).toBe(false);
    expect(names).toHaveLength(createdVms);

    // Host capacity (over-provisioned), straight from the allocation rows.
    const hostUse = await rows<{ name: string; cpus: number; memory_mib: string; reserve: string; vcpus: string; mem: string }>(sql`
      select h.name, h.cpus, h.memory_mib, h.memory_reserve_mib as reserve,
             coalesce(sum(a.vcpus), 0) as vcpus, coalesce(sum(a.memory_mib), 0) as mem
      from hosts h left join allocations a on a.host_id = h.id group by h.id`);
    expect(hostUse).toHaveLength(HOSTS.length);
    for (const h of hostUse) {
      expect(Number(h.reserve)).toBe(RESERVE_MIB);
      expect(Number(h.vcpus), h.name).toBeLessThanOrEqual(h.cpus * CPU_FACTOR);
      expect(Number(h.mem), h.name).toBeLessThanOrEqual((Number(h.memory_mib) - Number(h.reserve)) * MEM_FACTOR);
    }
    // The burst filled the fleet: every CPU host is at least three-quarters allocated.
    for (const h of hostUse.filter((x) => x.name.startsWith("cc-cpu"))) expect(Number(h.vcpus)).toBeGreaterThanOrEqual(h.cpus * CPU_FACTOR * 0.75);

    // GPUs: passthrough exclusive, vGPU homogeneous and within its instance limit.
    const gpuUse = await rows<{ gpu_id: number; passthrough: string; vgpu: string; types: string; total: string }>(sql`
      select gpu_id, count(*) filter (where mode = 'passthrough') as passthrough,
             count(*) filter (where mode = 'vgpu') as vgpu, count(distinct vgpu_type) filter (where mode = 'vgpu') as types,
             count(*) as total
      from gpu_allocations group by gpu_id`);
    for (const g of gpuUse) {
      if (Number(g.passthrough) > 0) expect(Number(g.total), `GPU ${g.gpu_id}`).toBe(1);
      expect(Number(g.types), `GPU ${g.gpu_id}`).toBeLessThanOrEqual(1);
    }
    const perType = await rows<{ gpu_id: number; vgpu_type: string; n: string }>(sql`
      select gpu_id, vgpu_type, count(*) as n from gpu_allocations where mode = 'vgpu' group by gpu_id, vgpu_type`);
    for (const t of perType) expect(Number(t.n), `GPU ${t.gpu_id} ${t.vgpu_type}`).toBeLessThanOrEqual(VGPU_MAX[t.vgpu_type]!);
    // The GPUs were really contended: GPU requests both won and lost.
    const isGpu = (i: number) => mix[i]!.flavor.startsWith("cc-g") || mix[i]!.flavor.startsWith("cc-v");
    expect(refused.filter(isGpu).length).toBeGreaterThan(0);
    expect(results.filter((r, i) => r.status === 200 && isGpu(i)).length).toBeGreaterThan(0);
    expect(gpuUse.length).toBeGreaterThan(0);

    // Nothing half-created: each live VM has exactly one allocation and one deploy job, each
    // allocation a VM, each GPU allocation the VM's allocation on the same host, and each VM
    // the GPUs its flavor asks for.
    const orphans = await rows<{ n: string }>(sql`
      select count(*) as n from vms v left join allocations a on a.vm_id = v.id
      where v.deleted_at is null and a.id is null`);
    expect(Number(orphans[0]!.n)).toBe(0);
    const allocWithoutVm = await rows<{ n: string }>(sql`
      select count(*) as n from allocations a left join vms v on v.id = a.vm_id where v.id is null or v.deleted_at is not null`);
    expect(Number(allocWithoutVm[0]!.n)).toBe(0);
    const jobless = await rows<{ n: string }>(sql`
      select count(*) as n from vms v where not exists (select 1 from jobs j where j.vm_id = v.id and j.kind = 'vm.deploy')`);
    expect(Number(jobless[0]!.n)).toBe(0);
    const strayGpu = await rows<{ n: string }>(sql`
      select count(*) as n from gpu_allocations g left join allocations a on a.vm_id = g.vm_id and a.host_id = g.host_id
      where a.id is null`);
    expect(Number(strayGpu[0]!.n)).toBe(0);
    const gpuCounts = await rows<{ name: string; want: number; vgpu: string; got: string }>(sql`
      select v.name, f.gpu_count as want, f.vgpu_type as vgpu, count(g.id) as got
      from vms v join flavors f on f.id = v.flavor_id left join gpu_allocations g on g.vm_id = v.id
      group by v.id, f.gpu_count, f.vgpu_type`);
    for (const v of gpuCounts) expect(Number(v.got), v.name).toBe(v.vgpu ? 1 : v.want);
  }, 120_000);
});
