// A host whose agent goes away, comes back, or comes back after a reboot: the precise VM
// transitions (Unknown after the liveness deadline, Running when the host reports the domain
// again, Stopped with the reboot as the reason), commands that wait for an away agent, and
// deletes that could not reach their host being retried. In-process manager and agents over
// real gRPC; short heartbeat settings so the deadline passes quickly.
import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commands, jobs, vmStateTransitions } from "../../manager/src/db/schema.js";
import { transitionVm } from "../../manager/src/vm/vm-transitions.js";
import { startTestCloud, type TestCloud } from "./harness.js";

const HOSTS = [
  { hostname: "outage-a", uuid: "0a7a0000-0000-4000-8000-00000000000a", cpus: 16, memoryMib: 32768 },
  { hostname: "outage-b", uuid: "0a7a0000-0000-4000-8000-00000000000b", cpus: 16, memoryMib: 32768 },
];

let cloud: TestCloud;

async function setSetting(name: string, value: number): Promise<void> {
  const r = await cloud.api("PUT", `/v1/admin/settings/${name}`, { value });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
}

beforeAll(async () => {
  // A 1.5 s liveness window (300 ms x 5): agents are told a 750 ms reconnect cap.
  cloud = await startTestCloud({ hosts: HOSTS, settings: { "ping.interval": 0.3, "ping.timeout": 5 } });
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

const db = () => cloud.manager.database.db;

async function vmView(id: number): Promise<Record<string, any>> {
  const r = await cloud.api("GET", `/v1/core/virtual-machines/${id}`);
  return r.status === 404 ? { gone: true } : r.json.instance;
}

async function hostView(name: string): Promise<Record<string, any>> {
  const r = await cloud.api("GET", "/v1/admin/hosts");
  return (r.json.hosts as Record<string, any>[]).find((h) => h.name === name)!;
}

/** A Running VM, and the index of the host it runs on. */
async function runningVm(name: string): Promise<{ id: number; uuid: string; host: number }> {
  const created = await cloud.api("POST", "/v1/core/virtual-machines", { name, flavor_name: "n1-cpu-small", image_name: "Debian 12", count: 1 });
  expect(created.status, JSON.stringify(created.json)).toBe(200);
  const inst = created.json.instances[0];
  await cloud.waitFor(`${name} running`, async () => (await vmView(inst.id)).status === "ACTIVE");
  return { id: inst.id, uuid: inst.uuid, host: HOSTS.findIndex((h) => h.hostname === inst.host) };
}

async function waitState(id: number, state: string, timeoutMs = 20_000): Promise<Record<string, any>> {
  return cloud.waitFor(`VM ${id} ${state}`, async () => {
    const v = await vmView(id);
    return v.orbit_state === state && v;
  }, timeoutMs);
}

describe("a host whose agent goes away", () => {
  it("its running VMs go Unknown (shown as UNKNOWN, capacity held) after the deadline, and Running again when it reports them", async () => {
    const vm = await runningVm("outage-1");
    const host = HOSTS[vm.host]!.hostname;
    await cloud.fleet.stopAgent(vm.host);
    const unknown = await waitState(vm.id, "Unknown");
    expect(unknown).toMatchObject({ status: "UNKNOWN", power_state: "NOSTATE", state_reason: expect.stringContaining(`host ${host} stopped reporting`) });
    // Suspect, then Alert once HA found no neighbour able to probe it (these hosts have no storage heartbeat): nothing restarted.
    expect(["Suspect", "Alert"]).toContain((await hostView(host)).state);
    expect((await hostView(host)).allocated.vms).toBeGreaterThanOrEqual(1);
    await cloud.fleet.startAgent(vm.host);
    const back = await waitState(vm.id, "Running");
    expect(back).toMatchObject({ status: "ACTIVE", state_reason: "host is back and reports the domain running" });
    const path = await db().select({ from: vmStateTransitions.fromState, to: vmStateTransitions.toState }).from(vmStateTransitions)
      .where(eq(vmStateTransitions.vmId, vm.id)).orderBy(vmStateTransitions.id);
    expect(path.slice(-2)).toEqual([{ from: "Running", to: "Unknown" }, { from: "Unknown", to: "Running" }]);
  });

  it("after a reboot (new boot id, domain gone) its VMs come back Stopped with the reboot as the reason; commands it can no longer answer are closed", async () => {
    const vm = await runningVm("outage-2");
    const hostId = (await hostView(HOSTS[vm.host]!.hostname)).id as number;
    // A command a killed job left open on this host: nobody will ever answer it now.
    const orphan = randomUUID();
    await db().insert(commands).values({ id: orphan, hostId, vmId: vm.id, kind: "startVm", status: "sent" });
    await cloud.fleet.stopAgent(vm.host);
    await waitState(vm.id, "Unknown");
    await cloud.fleet.startAgent(vm.host, { reboot: true });
    const stopped = await waitState(vm.id, "Stopped");
    expect(stopped).toMatchObject({ status: "SHUTOFF", state_reason: "host rebooted: the domain is gone after the reboot" });
    expect((await hostView(HOSTS[vm.host]!.hostname)).allocated.vms).toBeGreaterThanOrEqual(1); // a Stopped VM keeps its place
    const [row] = await db().select().from(commands).where(eq(commands.id, orphan));
    expect(row).toMatchObject({ status: "failed", error: { code: "agent_unavailable", message: "the host rebooted before answering", retryable: false } });
  });

  it("a delete waits for an agent that is away and completes when it is back, in one attempt", async () => {
    await setSetting("ping.timeout", 40); // a 12 s window: the agent is back well inside it
    try {
      const vm = await runningVm("outage-3");
      await cloud.fleet.stopAgent(vm.host);
      const del = await cloud.api("DELETE", `/v1/core/virtual-machines/${vm.id}`);
      expect(del.status).toBe(200);
      const jobId = del.json.job_id ?? (await db().select({ id: jobs.id }).from(jobs).where(and(eq(jobs.vmId, vm.id), eq(jobs.kind, "vm.destroy"))))[0]!.id;
      // The job is waiting for the agent, not failing: still running, on its first attempt.
      await new Promise((r) => setTimeout(r, 1000));
      const [waiting] = await db().select().from(jobs).where(eq(jobs.id, jobId));
      expect(waiting).toMatchObject({ status: "running", attempts: 1 });
      await cloud.fleet.startAgent(vm.host);
      await cloud.waitFor("VM deleted", async () => (await vmView(vm.id)).gone);
      const [done] = await db().select().from(jobs).where(eq(jobs.id, jobId));
      expect(done).toMatchObject({ status: "succeeded", attempts: 1 });
      expect(cloud.fleet.hypervisors[vm.host]!.has(vm.uuid)).toBe(false);
    } finally {
      await setSetting("ping.timeout", 5);
    }
  });

  it("a VM left in Error by a delete that could not reach its host has the delete retried once the host reports again", async () => {
    const vm = await runningVm("outage-4");
    const host = HOSTS[vm.host]!.hostname;
    const before = (await hostView(host)).allocated.vms as number;
    // As the job runner leaves it when a delete gave up on an unreachable host (capacity kept).
    await db().transaction(async (tx) => {
      await transitionVm(tx, vm.id, "Destroying", "test: user requested delete");
      await tx.insert(jobs).values({
        uuid: randomUUID(), kind: "vm.destroy", vmId: vm.id, accountId: 1, status: "failed", attempts: 8,
        error: { code: "agent_unavailable", message: "agent of host 1 is not connected", retryable: true }, finishedAt: new Date(),
      });
      await transitionVm(tx, vm.id, "Error", "test: destroy failed", { reason: "vm.destroy failed: agent unavailable", keepCapacity: true });
    });
    await cloud.waitFor("VM deleted by the retried delete", async () => (await vmView(vm.id)).gone);
    expect(cloud.fleet.hypervisors[vm.host]!.has(vm.uuid)).toBe(false);
    expect((await hostView(host)).allocated.vms).toBe(before - 1);
    const destroys = await db().select().from(jobs).where(and(eq(jobs.vmId, vm.id), eq(jobs.kind, "vm.destroy"))).orderBy(jobs.id);
    expect(destroys.map((j) => j.status)).toEqual(["failed", "succeeded"]);
  });

  it("a VM marked Error while its domain runs (and its capacity was kept) is Running again from the host's report", async () => {
    const vm = await runningVm("outage-5");
    await db().transaction((tx) => transitionVm(tx, vm.id, "Error", "test: deploy gave up on an unreachable host", {
      reason: "vm.deploy failed: agent unavailable (capacity kept)", keepCapacity: true,
    }));
    // The next heartbeat (300 ms) may already have run: the transitions say what happened.
    const back = await waitState(vm.id, "Running");
    expect(back).toMatchObject({ status: "ACTIVE", state_reason: "host reports the domain running" });
    const path = await db().select({ from: vmStateTransitions.fromState, to: vmStateTransitions.toState }).from(vmStateTransitions)
      .where(eq(vmStateTransitions.vmId, vm.id)).orderBy(vmStateTransitions.id);
    expect(path.slice(-2)).toEqual([{ from: "Running", to: "Error" }, { from: "Error", to: "Running" }]);
  });

  it("an Error VM whose capacity was released stays Error even if a domain runs (no capacity is taken back behind the allocator)", async () => {
    const vm = await runningVm("outage-6");
    await db().transaction((tx) => transitionVm(tx, vm.id, "Error", "test: start refused", { reason: "vm.deploy failed: refused" }));
    // Several heartbeats (300 ms) later it is still Error.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await vmView(vm.id)).orbit_state).toBe("Error");
    // Clean up the domain the test left behind.
    await cloud.api("DELETE", `/v1/core/virtual-machines/${vm.id}`);
    await cloud.waitFor("VM deleted", async () => (await vmView(vm.id)).gone);
  });
});
