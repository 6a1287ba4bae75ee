// A burst of concurrent creates (40; 200 with ORBIT_FAULTS_FULL=1) against a real `orbit-manager`
// with three real `orbit-agent`s (simulator driver, one of them with GPUs), the manager killed
// (kill -9) once about a quarter of the creates were answered, then started again on the same
// database. When everything settles (bounded wait) nothing is lost or half-made:
// - every create answered 2xx ends Running, or Error with a reason;
// - a create refused (4xx) made nothing; one whose answer was lost made a whole VM or nothing;
// - allocations (vCPU, memory, GPUs) are exactly those of the VMs that hold them, host by host;
// - no domain on any host without its VM, no VM Running without its domain on its own host;
// - no job or agent command left pending or running.
import { inArray } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase, scratchDatabaseUrl } from "../../manager/src/db/database.js";
import { allocations, commands, flavors, gpuAllocations, hosts as hostsTable, jobs, vms } from "../../manager/src/db/schema.js";
import { holdsCapacity, isVmState } from "../../manager/src/vm/vm-state-machine.js";
import { AgentProcess, ManagerProcess, waitFor } from "./processes.js";

const FULL = process.env.ORBIT_FAULTS_FULL === "1";
const CREATES = FULL ? 200 : 40;
const GPU_MODEL = "NVIDIA H100 80GB HBM3";

/** Which flavor the i-th create asks for: mostly tiny, some small, every 10th a GPU (4 GPUs for CREATES/10 asks: some refused). */
const flavorOf = (i: number) => (i % 10 === 9 ? "n3-H100x1" : i % 3 === 0 ? "n1-cpu-small" : "t1-tiny");

interface VmView { id: number; name: string; status: string; orbit_state: string; state_reason: string }
interface Outcome { i: number; name: string; status: number; json: Record<string, any> }

describe("a manager killed during a burst of deploys", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => { for (const c of cleanup.reverse()) await c().catch(() => undefined); });

  it(`${CREATES} concurrent creates, kill -9 mid-way, restart: nothing lost, nothing half-made, no capacity leaked`, async () => {
    const t0 = Date.now();
    const mark = (what: string) => process.stdout.write(`[${Date.now() - t0} ms] ${what}\n`);
    const db = await scratchDatabaseUrl("orbit_fault", { migrated: true });
    cleanup.push(db.drop);
    // A 4 s host window (500 ms x 8): agents reconnect within 2 s of the manager's return.
    // The killed process's job leases run out before the new one resumes its jobs: the default
    // 30 s in the full run, 8 s in CI's short one.
    const manager = await ManagerProcess.start({
      ...(db.url ? { databaseUrl: db.url } : {}), settings: { "ping.interval": 0.5, "ping.timeout": 8 },
      ...(FULL ? {} : { env: { ORBIT_LEASE_TTL_MS: "8000" } }),
    });
    cleanup.push(() => manager.stop());
    const agents = [1, 2].map((i) => new AgentProcess({
      managerAddress: manager.grpcAddress, joinToken: manager.joinToken, hostname: `burst-host-${i}`, cpus: 128, memoryMib: 524288, startDelayMs: 300,
    }));
    agents.push(new AgentProcess({
      managerAddress: manager.grpcAddress, joinToken: manager.joinToken, hostname: "burst-gpu", cpus: 192, memoryMib: 1_048_576, startDelayMs: 300,
      gpus: [{ model: GPU_MODEL, memoryMib: 81559, count: 4 }],
    }));
    for (const a of agents) cleanup.push(() => a.stop());
    const hostList = async () => (await manager.api("GET", "/v1/admin/hosts")).json.hosts as { id: number; name: string; uuid: string; state: string }[];
    await waitFor("3 hosts Up", async () => (await hostList()).filter((h) => h.state === "Up").length === 3, 90_000);

    mark("hosts up");
    let answered = 0;
    const creates: Promise<Outcome>[] = Array.from({ length: CREATES }, (_, i) => {
      const name = `burst-${i}`;
      return manager.api("POST", "/v1/core/virtual-machines", { name, flavor_name: flavorOf(i), image_name: "Debian 12", count: 1 })
        .then((r) => { answered++; return { i, name, status: r.status, json: r.json }; },
          (e: Error) => ({ i, name, status: 0, json: { lost: e.message } }));
    });
    await waitFor("a quarter of the creates answered", () => answered >= CREATES / 4, 60_000, 5);
    await manager.kill("SIGKILL");
    const killedAfter = answered;
    const outcomes = await Promise.all(creates);
    await new Promise((r) => setTimeout(r, 1000));
    mark("killed");
    await manager.startProcess();
    mark("restarted");

    const acknowledged = outcomes.filter((o) => o.status >= 200 && o.status < 300);
    const refused = outcomes.filter((o) => o.status >= 400);
    const lost = outcomes.filter((o) => o.status === 0);
    // Refusals are for a reason (no room for a GPU VM), never a server error.
    expect(refused.filter((o) => o.status >= 500 && o.status !== 503).map((o) => o.json)).toEqual([]);
    expect(acknowledged.length).toBeGreaterThanOrEqual(Math.floor(CREATES / 4) - refused.length);

    const list = async () => {
      const r = await manager.api("GET", "/v1/core/virtual-machines?page_size=500");
      if (r.status !== 200) throw new Error(`list: ${r.status} ${JSON.stringify(r.json)}`);
      return r.json.instances as VmView[];
    };
    // Settled: every VM Running or Error, and (read in the database at the end) no open job.
    const settled = await waitFor("every VM Running or Error", async () => {
      const all = await list();
      return all.every((v) => v.orbit_state === "Running" || v.orbit_state === "Error") && all;
    }, 120_000, 250).catch(async (e: Error) => {
      const all = await list().catch(() => []);
      throw new Error(`${e.message}\nnot settled: ${JSON.stringify(all.filter((v) => v.orbit_state !== "Running" && v.orbit_state !== "Error"))}\n${manager.handle!.output().slice(-4000)}`);
    });
    mark("settled");
    const byName = new Map(settled.map((v) => [v.name, v]));
    for (const o of acknowledged) {
      const v = byName.get(o.name);
      expect(v, `acknowledged ${o.name} (${JSON.stringify(o.json)}) is gone`).toBeDefined();
      expect(v!.id).toBe(o.json.instances[0].id);
      if (v!.orbit_state === "Error") expect(v!.state_reason, `${o.name} in Error without a reason`).not.toBe("");
    }
    for (const o of refused) expect(byName.has(o.name), `refused ${o.name} (${o.status}) exists`).toBe(false);
    // Every VM is one the test asked for, once, acknowledged or with its answer lost.
    expect(settled.length).toBe(byName.size);
    for (const v of settled) expect(outcomes.find((o) => o.name === v.name)?.status, v.name).toSatisfy((s: number) => s === 0 || (s >= 200 && s < 300));

    // A few heartbeats later nothing moved back (a VM Running without its domain would be reported).
    await new Promise((r) => setTimeout(r, 1500));
    const again = await list();
    expect(again.map((v) => [v.name, v.orbit_state]).sort()).toEqual(settled.map((v) => [v.name, v.orbit_state]).sort());
    const hostsByName = new Map((await hostList()).map((h) => [h.name, h]));
    agents.forEach((a) => expect(a.handle.exit(), a.handle.output()).toBeUndefined());

    // The database, read with the manager stopped (PGlite is one process's): nothing left open, nothing leaked.
    await manager.handle!.stop("SIGTERM");
    const database = await openDatabase(db.url ? { url: db.url } : { dataDir: `${manager.dataDir}/pglite` });
    let report: string;
    try {
      const d = database.db;
      expect(await d.select({ id: jobs.id, kind: jobs.kind, status: jobs.status }).from(jobs).where(inArray(jobs.status, ["pending", "running"]))).toEqual([]);
      expect(await d.select({ id: commands.id, kind: commands.kind }).from(commands).where(inArray(commands.status, ["pending", "sent"]))).toEqual([]);
      const vmRows = await d.select({ id: vms.id, uuid: vms.uuid, name: vms.name, state: vms.state, hostId: vms.hostId, vcpus: vms.vcpus, memoryMib: vms.memoryMib, flavorId: vms.flavorId }).from(vms);
      const allocRows = await d.select().from(allocations);
      const gpuRows = await d.select({ vmId: gpuAllocations.vmId, hostId: gpuAllocations.hostId }).from(gpuAllocations);
      const gpuCount = new Map((await d.select({ id: flavors.id, n: flavors.gpuCount }).from(flavors)).map((f) => [f.id, f.n]));
      const hostRows = await d.select({ id: hostsTable.id, uuid: hostsTable.uuid, name: hostsTable.name }).from(hostsTable);

      // Per host: allocations = those of the VMs on it that hold capacity (an Error VM may keep its
      // own: its host's side was unknown), and each VM's allocation is its own size on its own host.
      const leaks: string[] = [];
      const allocByVm = new Map(allocRows.map((a) => [a.vmId, a]));
      for (const v of vmRows) {
        const a = allocByVm.get(v.id);
        const state = isVmState(v.state) ? v.state : "Unknown";
        const gpusHeld = gpuRows.filter((g) => g.vmId === v.id);
        if (holdsCapacity(state) && !a) leaks.push(`VM ${v.name} ${v.state} holds no allocation`);
        if (!holdsCapacity(state) && state !== "Error" && (a || gpusHeld.length)) leaks.push(`VM ${v.name} ${v.state} still holds capacity`);
        if (a && (a.hostId !== v.hostId || a.vcpus !== v.vcpus || Number(a.memoryMib) !== Number(v.memoryMib))) leaks.push(`VM ${v.name}: allocation ${JSON.stringify(a)} is not its size on its host ${v.hostId}`);
        const wantGpus = a ? gpuCount.get(v.flavorId) ?? 0 : 0;
        if (gpusHeld.length !== wantGpus || gpusHeld.some((g) => g.hostId !== v.hostId)) leaks.push(`VM ${v.name}: ${gpusHeld.length} GPUs held, ${wantGpus} expected`);
      }
      for (const a of allocRows) if (!vmRows.some((v) => v.id === a.vmId)) leaks.push(`allocation of unknown VM ${a.vmId}`);
      for (const h of hostRows) {
        const mine = allocRows.filter((a) => a.hostId === h.id);
        const live = vmRows.filter((v) => v.hostId === h.id && allocByVm.has(v.id));
        const sum = (xs: { vcpus: number; memoryMib: number }[]) => [xs.reduce((n, x) => n + x.vcpus, 0), xs.reduce((n, x) => n + Number(x.memoryMib), 0)];
        expect(sum(mine), `host ${h.name}`).toEqual(sum(live));
      }
      expect(leaks).toEqual([]);

      // Domains: none without its VM record, and every Running VM has its domain running on its own host.
      const domainsByHost = new Map(hostRows.map((h) => {
        const agent = agents.find((a) => a.handle.name === `orbit-agent ${h.name}`)!;
        return [h.id, agent.domains()];
      }));
      const known = new Set(vmRows.filter((v) => v.state !== "Destroyed").map((v) => v.uuid));
      for (const [hostId, ds] of domainsByHost) {
        for (const dom of ds) expect(known.has(dom.uuid), `domain ${dom.uuid} on host ${hostId} has no VM`).toBe(true);
      }
      for (const v of vmRows.filter((x) => x.state === "Running")) {
        const dom = (domainsByHost.get(v.hostId!) ?? []).find((x) => x.uuid === v.uuid);
        expect(dom?.state, `Running VM ${v.name} on host ${v.hostId}`).toBe("POWER_STATE_RUNNING");
        for (const [hostId, ds] of domainsByHost) if (hostId !== v.hostId) expect(ds.some((x) => x.uuid === v.uuid), `${v.name} also on host ${hostId}`).toBe(false);
      }
      const errors = vmRows.filter((v) => v.state === "Error");
      report = `${CREATES} creates: ${killedAfter} answered before the kill, ${acknowledged.length} acknowledged, ${refused.length} refused, ${lost.length} lost with the connection`
        + ` (${lost.filter((o) => byName.has(o.name)).length} of them made); ${settled.length} VMs, ${errors.length} in Error${errors.length ? ` (${[...new Set(settled.filter((v) => v.orbit_state === "Error").map((v) => v.state_reason))].join("; ")})` : ""}`;
    } finally {
      await database.close();
    }
    expect(hostsByName.size).toBe(3);
    process.stdout.write(`manager-kill-during-deploys: ${report}\n`);
  }, 300_000);
});
