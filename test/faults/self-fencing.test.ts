// Self-fencing with real processes: two `orbit-agent`s (simulator driver) with one running VM each
// write their storage heartbeats into one shared directory, each through its own symlink. The
// manager tells them self_fence_after_ms, then is killed. Agent A's link is replaced by a regular
// file (its storage is gone): A can reach neither the manager nor its storage and powers its VM off
// after self_fence_after_ms. Agent B still writes its heartbeat and keeps its VM running. When the
// manager is back, A lifts its fence (the manager decides what runs). Needs the manager's HA
// settings (kvm.heartbeat.update.timeout, kvm.ha.heartbeat.interval.ms: branch ha-mgr).
// The simulated hosts' domains are read from their state files (simulator-domains.json), which
// the simulator rewrites on every change, since the manager is not there to ask.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { scratchDatabaseUrl } from "../../manager/src/db/database.js";
import { AgentProcess, ManagerProcess, waitFor, type ChildHandle } from "./processes.js";

const SELF_FENCE_AFTER_MS = 3000;
const HEARTBEAT_INTERVAL_MS = 500;

interface StateFile { hostUuid: string; domains: { uuid: string; state: string; reason: string }[] }
const domains = (a: AgentProcess): StateFile["domains"] => {
  const f = path.join(a.stateDir, "simulator-domains.json");
  return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as StateFile).domains : [];
};
const hostUuid = (a: AgentProcess): string => (JSON.parse(readFileSync(path.join(a.stateDir, "simulator-domains.json"), "utf8")) as StateFile).hostUuid;
const logged = (h: ChildHandle, msg: string) => h.logs().filter((l) => String(l.msg).startsWith(msg));

describe("an agent cut off from the manager and from its storage heartbeat", () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterAll(async () => { for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => undefined); });

  it("powers its VMs off after self_fence_after_ms; one that still writes its heartbeat does not", async () => {
    const db = await scratchDatabaseUrl("orbit_fault", { migrated: true });
    cleanup.push(db.drop);
    const manager = await ManagerProcess.start({
      ...(db.url ? { databaseUrl: db.url } : {}),
      settings: { "ping.interval": 0.5, "ping.timeout": 6, "kvm.heartbeat.update.timeout": SELF_FENCE_AFTER_MS, "kvm.ha.heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS },
    });
    cleanup.push(() => manager.stop());
    const root = mkdtempSync(path.join(tmpdir(), "orbit-fault-fencing-"));
    cleanup.push(() => rmSync(root, { recursive: true, force: true }));
    const shared = path.join(root, "shared");
    mkdirSync(shared);
    const links = { a: path.join(root, "a-heartbeats"), b: path.join(root, "b-heartbeats") };
    symlinkSync(shared, links.a);
    symlinkSync(shared, links.b);
    // 8 GiB each, 2 GiB of it kept for the host: room for one 4 GiB VM per host.
    const agent = (name: string, dir: string) => new AgentProcess({
      managerAddress: manager.grpcAddress, joinToken: manager.joinToken, hostname: name, memoryMib: 8192,
      extra: { ha: { storage_heartbeat_dir: dir } },
    });
    const a = agent("fencing-a", links.a);
    cleanup.push(() => a.stop());
    const b = agent("fencing-b", links.b);
    cleanup.push(() => b.stop());
    await waitFor("both hosts Up", async () => {
      const { json } = await manager.api("GET", "/v1/admin/hosts");
      return (json.hosts as { state: string }[] | undefined)?.filter((h) => h.state === "Up").length === 2;
    }, 60_000);
    for (const name of ["fenced-vm", "kept-vm"]) {
      const r = await manager.api("POST", "/v1/core/virtual-machines", { name, flavor_name: "n1-cpu-small", image_name: "Debian 12", count: 1 });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
    }
    const running = (x: AgentProcess) => domains(x).filter((d) => d.state === "POWER_STATE_RUNNING");
    await waitFor("one VM running on each host", () => running(a).length === 1 && running(b).length === 1, 60_000);

    // Both have been told the setting, and both heartbeats are on the shared storage.
    for (const x of [a, b]) {
      await waitFor(`${x.handle.name} told self_fence_after_ms`, () => logged(x.handle, "HA settings changed").some((l) => l.selfFenceAfterMs === SELF_FENCE_AFTER_MS), 20_000);
      await waitFor(`${x.handle.name}'s heartbeat file`, () => existsSync(path.join(shared, hostUuid(x))), 20_000);
    }

    await manager.kill("SIGKILL");
    // A's storage goes: its heartbeat dir's path is now a regular file.
    unlinkSync(links.a);
    writeFileSync(links.a, "not a directory\n");
    const cut = Date.now();

    await waitFor("A's VM powered off", () => domains(a).length === 1 && running(a).length === 0, 20_000, 50);
    const fencedAfterMs = Date.now() - cut;
    // Its last good write was at most one interval before the cut; the fence comes at most two intervals late.
    expect(fencedAfterMs).toBeGreaterThanOrEqual(SELF_FENCE_AFTER_MS - HEARTBEAT_INTERVAL_MS);
    expect(fencedAfterMs).toBeLessThan(SELF_FENCE_AFTER_MS + 4 * HEARTBEAT_INTERVAL_MS + 3000);
    expect(domains(a)[0]).toMatchObject({ state: "POWER_STATE_SHUTOFF", reason: "destroyed" });
    // Its log lines come through a pipe and may trail the domain's state by a moment.
    await waitFor("A's self-fencing logged", () => logged(a.handle, "self-fencing: VM powered off").length > 0, 10_000, 50);
    expect(logged(a.handle, "storage heartbeat write failed")[0]?.error).toMatch(/ENOTDIR/);
    expect(logged(a.handle, "SELF-FENCING")).toHaveLength(1);
    expect(logged(a.handle, "self-fencing: VM powered off")).toHaveLength(1);

    // B, without the manager as long again and more, still writes its heartbeat and keeps its VM.
    await new Promise((r) => setTimeout(r, SELF_FENCE_AFTER_MS + 2000));
    expect(running(b)).toHaveLength(1);
    expect(logged(b.handle, "SELF-FENCING")).toHaveLength(0);
    const bBeat = JSON.parse(readFileSync(path.join(shared, hostUuid(b)), "utf8")) as { written_at_ms: number };
    expect(Date.now() - bBeat.written_at_ms).toBeLessThan(HEARTBEAT_INTERVAL_MS + 1500);
    // A's heartbeat stopped at the cut: a neighbour sees it age.
    const aBeat = JSON.parse(readFileSync(path.join(shared, hostUuid(a)), "utf8")) as { written_at_ms: number };
    expect(aBeat.written_at_ms).toBeLessThanOrEqual(cut);

    // The manager is back: A lifts its fence (what runs is the manager's decision from then on).
    await manager.startProcess();
    await waitFor("A lifts its fence", () => logged(a.handle, "manager reached again").length === 1, 30_000);
    process.stdout.write(`self-fencing: VM powered off ${fencedAfterMs} ms after the storage was cut (self_fence_after_ms ${SELF_FENCE_AFTER_MS}, interval ${HEARTBEAT_INTERVAL_MS})\n`);
  }, 300_000);
});
