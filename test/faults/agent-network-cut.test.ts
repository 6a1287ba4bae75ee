// An agent's network cut, with real `orbit-agent` processes (simulator driver), each in a network
// namespace of its own on a test network (agent-netns.ts: nftables drops every packet in and out
// of the cut host's namespace). The storage heartbeat directory is shared by all hosts, each
// through its own symlink; a long cut takes the cut host's storage with it (its link replaced by
// a file: NFS over the same network), a short one does not need to.
// - Cut for less than the host window (ping.interval x ping.timeout): nothing moves; the host
//   stays Up and no VM is stopped, restarted or moved.
// - Cut for longer, its storage heartbeat still written: Alert (it may still run its VMs), nothing
//   restarted elsewhere, and mended its VM runs on.
// - Cut for longer with its storage: the host goes Suspect, then Down on conclusive evidence only (every neighbour
//   answered and none reached it, its storage heartbeat stale); its HA VM runs on another host and
//   its other VM is Down. Mended, the host's stale copies are destroyed and nothing is started
//   there. Throughout, every host's domains are polled: a VM running on two hosts fails the test.
// On PostgreSQL the cloud is two managers: A runs the singleton duties (HA among them) and
// answers the test's calls, while every agent is connected to B. So each probe HA sends, each
// stale copy it destroys and each start of a restarted VM crosses managers through PostgreSQL.
// Needs root (ip netns, nft): skipped with the reason otherwise (outside CI).
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scratchDatabaseUrl } from "../../manager/src/db/database.js";
import { HostNetwork, netnsUnavailable } from "./agent-netns.js";
import { AgentProcess, ManagerProcess, waitFor } from "./processes.js";

const unavailable = netnsUnavailable();
const skip = Boolean(unavailable) && !process.env.CI;
if (skip) console.log(`agent-network-cut fault tests skipped: ${unavailable} (they run under CI=true, as root)`);

const PING_INTERVAL_S = 1;
const PING_TIMEOUT = 6;
const WINDOW_MS = PING_INTERVAL_S * PING_TIMEOUT * 1000;
const SHORT_CUT_MS = 2000;

interface HostView { id: number; name: string; state: string }
interface VmView { id: number; uuid: string; orbit_state: string; state_reason: string }

describe.skipIf(skip)("an agent's network cut (simulated hosts in network namespaces)", () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  let net: HostNetwork;
  let manager: ManagerProcess;
  const agents = new Map<string, AgentProcess>();
  let shared: string;
  let root: string;
  const links = new Map<string, string>();
  /** Every VM seen running on two hosts at once (must stay empty). */
  const overlaps: string[] = [];
  /** Each host's states, in the order seen (consecutive repeats dropped). */
  const hostStates = new Map<string, string[]>();
  let poller: NodeJS.Timeout | undefined;

  const hosts = async () => (await manager.api("GET", "/v1/admin/hosts")).json.hosts as HostView[];
  const host = async (name: string) => (await hosts()).find((h) => h.name === name)!;
  const vm = async (id: number) => (await manager.api("GET", `/v1/core/virtual-machines/${id}`)).json.instance as VmView;
  /** The hosts whose simulator runs the VM's domain now. */
  const runningOn = (uuid: string) => [...agents].filter(([, a]) => a.domains().some((d) => d.uuid === uuid && d.state === "POWER_STATE_RUNNING")).map(([n]) => n);

  function poll(): void {
    const seen = new Map<string, string[]>();
    for (const [name, a] of agents) {
      for (const d of a.domains()) if (d.state === "POWER_STATE_RUNNING" || d.state === "POWER_STATE_PAUSED") seen.set(d.uuid, [...(seen.get(d.uuid) ?? []), name]);
    }
    for (const [uuid, on] of seen) if (on.length > 1) overlaps.push(`${uuid} on ${on.join(" and ")} at ${new Date().toISOString()}`);
    hosts().then((hs) => {
      for (const h of hs) {
        const states = hostStates.get(h.name) ?? [];
        if (states.at(-1) !== h.state) states.push(h.state);
        hostStates.set(h.name, states);
      }
    }).catch(() => undefined);
  }

  /** A VM placed on this host (the others disabled while it is created), Running. */
  async function vmOn(hostname: string, name: string, extra: Record<string, unknown> = {}): Promise<VmView> {
    const others = (await hosts()).filter((h) => h.name !== hostname);
    const set = async (state: string) => {
      for (const h of others) expect((await manager.api("PUT", `/v1/admin/hosts/${h.id}`, { resource_state: state })).status).toBe(200);
    };
    await set("Disabled");
    try {
      const r = await manager.api("POST", "/v1/core/virtual-machines", { name, flavor_name: "n1-cpu-small", image_name: "Debian 12", count: 1, ...extra });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      const id = r.json.instances[0].id as number;
      return await waitFor(`${name} Running`, async () => { const v = await vm(id); return v.orbit_state === "Running" && v; }, 60_000);
    } finally {
      await set("Enabled");
    }
  }

  beforeAll(async () => {
    net = await HostNetwork.create();
    cleanup.push(() => net.destroy());
    const db = await scratchDatabaseUrl("orbit_fault", { migrated: true });
    cleanup.push(db.drop);
    manager = await ManagerProcess.start({
      ...(db.url ? { databaseUrl: db.url } : {}),
      env: { ORBIT_GRPC_HOST: net.gateway },
      settings: { "ping.interval": PING_INTERVAL_S, "ping.timeout": PING_TIMEOUT, "kvm.heartbeat.update.timeout": WINDOW_MS, "kvm.ha.heartbeat.interval.ms": 500 },
    });
    cleanup.push(() => manager.stop());
    // The agents' manager: B when there can be two (A must hold the HA duty before B starts).
    let agentsManager = manager;
    if (db.url) {
      await waitFor("A holds the duties", async () => {
        const me = ((await manager.api("GET", "/v1/admin/managers")).json.managers as { self: boolean; duties: string[] }[]).find((m) => m.self);
        return me?.duties.includes("ha");
      }, 30_000);
      agentsManager = await ManagerProcess.start({ databaseUrl: db.url, env: { ORBIT_GRPC_HOST: net.gateway } });
      const b = agentsManager;
      cleanup.push(() => b.stop());
    }
    root = mkdtempSync(path.join(tmpdir(), "orbit-fault-netcut-"));
    cleanup.push(() => rmSync(root, { recursive: true, force: true }));
    shared = path.join(root, "shared");
    mkdirSync(shared);
    for (const name of ["cut-a", "nb-b", "nb-c"]) {
      const { ns, address } = await net.addHost(name);
      const link = path.join(root, `${name}-heartbeats`);
      symlinkSync(shared, link);
      links.set(name, link);
      const a = new AgentProcess({
        managerAddress: `${net.gateway}:${agentsManager.grpcAddress.split(":")[1]}`, joinToken: manager.joinToken, hostname: name, netns: ns,
        cpus: 16, memoryMib: 32768,
        extra: { host: { hostname: name, cluster_address: address }, ha: { storage_heartbeat_dir: link }, reconnect: { initial_backoff_ms: 200, max_backoff_ms: 2000 } },
      });
      cleanup.push(() => a.stop());
      agents.set(name, a);
    }
    await waitFor("3 hosts Up", async () => (await hosts()).filter((h) => h.state === "Up").length === 3, 90_000)
      .catch((e: Error) => { throw new Error(`${e.message}\n${[...agents.values()].map((a) => a.handle.output().slice(-2000)).join("\n")}`); });
    if (agentsManager !== manager) {
      // Every stream is on B, the HA duty on A.
      const managers = (await manager.api("GET", "/v1/admin/managers")).json.managers as { id: string; self: boolean; duties: string[]; agents?: number }[];
      const a = managers.find((m) => m.self)!;
      expect(a.duties).toContain("ha");
      const connected = (await manager.api("GET", "/v1/admin/hosts")).json.hosts as { name: string; connected_manager_id: string | null }[];
      for (const h of connected) expect(h.connected_manager_id, h.name).not.toBe(a.id);
      expect(connected.every((h) => h.connected_manager_id !== null)).toBe(true);
    }
    // The cluster's storage is shared (NFS-like): root disks may follow their VM to another host.
    const pools = (await manager.api("GET", "/v1/admin/storage-pools")).json.storage_pools as { id: number; kind: string }[] | undefined ?? [];
    for (const p of pools) expect((await manager.api("DELETE", `/v1/admin/storage-pools/${p.id}`)).status).toBeLessThan(300);
    const clusterId = ((await manager.api("GET", "/v1/admin/clusters")).json.clusters as { id: number }[])[0]!.id;
    const pool = await manager.api("POST", "/v1/admin/storage-pools", { name: "nfs", cluster_id: clusterId, kind: "shared", path: "/mnt/nfs", capacity_gib: 10_000 });
    expect(pool.status, JSON.stringify(pool.json)).toBeLessThan(300);
    poller = setInterval(poll, 100);
  }, 240_000);

  afterAll(async () => {
    clearInterval(poller);
    for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => undefined);
  }, 120_000);

  let haVm: VmView;
  let plainVm: VmView;

  it(`a cut shorter than the host window (${SHORT_CUT_MS} ms < ${WINDOW_MS} ms) moves nothing`, async () => {
    haVm = await vmOn("cut-a", "netcut-ha", { ha_enabled: true });
    plainVm = await vmOn("cut-a", "netcut-plain");
    expect(runningOn(haVm.uuid)).toEqual(["cut-a"]);
    hostStates.clear();
    await net.cut("cut-a");
    await new Promise((r) => setTimeout(r, SHORT_CUT_MS));
    // The cut was real: the manager has heard nothing from the host for most of it.
    const heard = Date.parse((await hosts() as (HostView & { last_heartbeat_at: string })[]).find((h) => h.name === "cut-a")!.last_heartbeat_at);
    await net.mend("cut-a");
    expect(Date.now() - heard).toBeGreaterThan(SHORT_CUT_MS - PING_INTERVAL_S * 1000);
    // Watched for longer than the window after the cut began.
    const until = Date.now() + WINDOW_MS + 2000;
    while (Date.now() < until) {
      for (const v of [haVm, plainVm]) {
        expect((await vm(v.id)).orbit_state).toBe("Running");
        expect(runningOn(v.uuid)).toEqual(["cut-a"]);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(hostStates.get("cut-a") ?? ["Up"]).toEqual(["Up"]);
    expect(overlaps).toEqual([]);
  }, 60_000);

  it("a longer cut (network and its storage): Suspect, Down on evidence, the HA VM elsewhere; mended, its stale copies destroyed, never two", async () => {
    const cutHost = await host("cut-a");
    hostStates.clear();
    const t0 = Date.now();
    await net.cut("cut-a");
    // Its NFS goes with its network: its heartbeat dir's path is now a regular file.
    const link = links.get("cut-a")!;
    unlinkSync(link);
    writeFileSync(link, "unreachable\n");

    await waitFor("cut-a Down", async () => (await host("cut-a")).state === "Down", 60_000, 200)
      .catch(async (e: Error) => { throw new Error(`${e.message}: ${JSON.stringify((await manager.api("GET", `/v1/admin/hosts/${cutHost.id}`)).json.ha)} states ${JSON.stringify(hostStates.get("cut-a"))}`); });
    const toDown = Date.now() - t0;
    expect(toDown).toBeGreaterThan(WINDOW_MS);
    // Suspect first, never Down straight from Up.
    await new Promise((r) => setTimeout(r, 200));
    expect(hostStates.get("cut-a")).toEqual(["Up", "Suspect", "Down"]);
    const detail = await manager.api("GET", `/v1/admin/hosts/${cutHost.id}`);
    expect(detail.json.ha).toMatchObject({ state: "Down", reason: expect.stringMatching(/fenced itself or is dead/) });
    expect(detail.json.ha.evidence.length).toBeGreaterThanOrEqual(1);
    for (const ev of detail.json.ha.evidence) expect(ev).toMatchObject({ answered: true, reachable: false, storage_heartbeat_seen: true });

    await waitFor("the HA VM running on a neighbour", () => {
      const on = runningOn(haVm.uuid);
      return on.length === 1 && on[0] !== "cut-a";
    }, 60_000, 100);
    const toElsewhere = Date.now() - t0;
    await waitFor("the HA VM Running", async () => (await vm(haVm.id)).orbit_state === "Running", 30_000);
    expect(await vm(plainVm.id)).toMatchObject({ orbit_state: "Down", state_reason: expect.stringContaining("not HA") });
    // The cut host fenced itself: its copies are powered off (kept, until the manager says).
    for (const v of [haVm, plainVm]) expect(agents.get("cut-a")!.domains().find((d) => d.uuid === v.uuid)?.state, v.uuid).toBe("POWER_STATE_SHUTOFF");

    // Mended: its network and its storage.
    await net.mend("cut-a");
    unlinkSync(link);
    symlinkSync(shared, link);
    await waitFor("cut-a Up again", async () => (await host("cut-a")).state === "Up", 60_000, 200);
    await waitFor("its stale copies destroyed", () => !agents.get("cut-a")!.domains().some((d) => d.uuid === haVm.uuid || d.uuid === plainVm.uuid), 30_000, 100);
    const toBack = Date.now() - t0;
    // A few heartbeats later: the HA VM still runs where HA put it, only there; nothing started on cut-a.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await vm(haVm.id)).orbit_state).toBe("Running");
    const on = runningOn(haVm.uuid);
    expect(on).toHaveLength(1);
    expect(on[0]).not.toBe("cut-a");
    expect(agents.get("cut-a")!.domains().filter((d) => d.state === "POWER_STATE_RUNNING")).toEqual([]);
    expect((await vm(plainVm.id)).orbit_state).toBe("Down");
    expect(overlaps).toEqual([]);
    process.stdout.write(`agent-network-cut: Down ${toDown} ms after the cut, HA VM running on ${on[0]} after ${toElsewhere} ms, stale copies gone ${toBack} ms after the cut (window ${WINDOW_MS} ms)\n`);
  }, 150_000);
  it("a long cut of the network only (its storage heartbeat still written): Alert, nothing restarted elsewhere, the VM runs on when mended", async () => {
    const cutHost = await host("cut-a");
    const kept = await vmOn("cut-a", "netcut-kept", { ha_enabled: true });
    hostStates.clear();
    await net.cut("cut-a");
    await waitFor("cut-a Alert", async () => (await host("cut-a")).state === "Alert", 60_000, 200)
      .catch(async (e: Error) => { throw new Error(`${e.message}: ${JSON.stringify((await manager.api("GET", `/v1/admin/hosts/${cutHost.id}`)).json.ha)} states ${JSON.stringify(hostStates.get("cut-a"))}`); });
    // Past the time a fenced host would have been declared Down (window, fence time, margin) and more.
    await new Promise((r) => setTimeout(r, 6000));
    expect(hostStates.get("cut-a")).toEqual(["Up", "Suspect", "Alert"]);
    const detail = await manager.api("GET", `/v1/admin/hosts/${cutHost.id}`);
    expect(detail.json.ha).toMatchObject({ state: "Alert" });
    // Not fenced (its storage is there), not restarted anywhere: it runs where it ran, once.
    expect(runningOn(kept.uuid)).toEqual(["cut-a"]);
    expect((await vm(kept.id)).orbit_state).toBe("Unknown");

    await net.mend("cut-a");
    await waitFor("cut-a Up again", async () => (await host("cut-a")).state === "Up", 60_000, 200);
    await waitFor("the VM Running again", async () => (await vm(kept.id)).orbit_state === "Running", 30_000);
    expect(runningOn(kept.uuid)).toEqual(["cut-a"]);
    expect(overlaps).toEqual([]);
  }, 120_000);
});
