// orbit-sim's fleet against a real manager over gRPC: each simulated host registers with the
// join token under its own identity and keeps its own stream; the manager places VMs on them,
// seeded start failures reach the API as the VM's error, and a host that dies on cue is
// Suspect by the manager's liveness check (Alert once HA finds no neighbour to probe it: sim hosts
// have no storage heartbeat), then Up again when it comes back.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SimFleet } from "@orbit/agent/src/sim/sim-fleet.js";
import { SIMULATED_START_FAILURE } from "@orbit/agent/src/sim/command-timing.js";
import { startTestCloud, type TestCloud } from "./harness.js";

const COUNT = 12;
let cloud: TestCloud;
let fleet: SimFleet;

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [], settings: { "ping.interval": 0.3, "ping.timeout": 5 } });
  fleet = new SimFleet({
    managers: [cloud.manager.grpcAddress], joinToken: cloud.manager.agentToken, log: pino({ level: "silent" }),
    count: COUNT, mix: "cpu:1,h100:1,a100:1,vgpu:1", seed: 11, latencyScale: 0.01, agentsPerConnection: 5,
    backoff: { initialMs: 100, maxMs: 1000 },
  });
  expect(await fleet.start(60_000)).toBe(COUNT);
}, 120_000);
afterAll(async () => {
  await fleet?.stop();
  await cloud?.stop();
});

async function hosts(): Promise<any[]> {
  const r = await cloud.api("GET", "/v1/admin/hosts");
  expect(r.status).toBe(200);
  return r.json.hosts;
}

async function vmStatus(id: number): Promise<any> {
  return (await cloud.api("GET", `/v1/core/virtual-machines/${id}`)).json.instance;
}

describe("orbit-sim fleet", () => {
  it("registers every host under its own identity, with its kind's capacity and GPUs", async () => {
    const hs = await cloud.waitFor("hosts up", async () => {
      const all = await hosts();
      return all.length === COUNT && all.every((h) => h.state === "Up") && all;
    });
    expect(new Set(fleet.hosts.map((h) => h.identity?.hostId)).size).toBe(COUNT);
    for (const sim of fleet.hosts) {
      const h = hs.find((x: any) => x.name === sim.spec.hostname);
      expect(h, sim.spec.hostname).toBeDefined();
      expect(h.capacity).toMatchObject({ cpus: sim.spec.cpus, memory_mib: sim.spec.memoryMib });
      const want = { cpu: 0, h100: 8, a100: 8, vgpu: 4 }[sim.spec.kind];
      expect(h.gpus, sim.spec.hostname).toHaveLength(want);
    }
    const h100 = hs.find((x: any) => x.name.includes("-h100-"));
    expect(new Set(h100.gpus.map((g: any) => g.numa_node))).toEqual(new Set([0, 1]));
    // 12 hosts, 5 per connection: 3 channels.
    expect(fleet.connections).toBe(3);
  });

  it("heartbeats reach the manager and are acked", async () => {
    fleet.report();
    await new Promise((r) => setTimeout(r, 1000));
    const r = fleet.report();
    // 12 hosts at 0.3 s for 1 s: about 40 acks.
    expect(r.lag.count).toBeGreaterThan(20);
    expect(r.lag.p50).toBeGreaterThanOrEqual(0);
    expect(r.counters.connected).toBe(COUNT);
  });

  it("runs a VM the manager places, and reports a seeded start failure as the VM's error", async () => {
    const created = await cloud.api("POST", "/v1/core/virtual-machines", { name: "sim-ok", flavor_name: "n1-cpu-small", image_name: "Debian 12" });
    expect(created.status).toBe(200);
    const inst = created.json.instances[0];
    const running = await cloud.waitFor("VM running", async () => { const v = await vmStatus(inst.id); return v?.status === "ACTIVE" && v; });
    const sim = fleet.hosts.find((h) => h.spec.hostname === running.host)!;
    expect((await sim.hypervisor.listDomains()).map((d) => d.vmUuid)).toContain(inst.uuid);

    fleet.setStartFailureRate(1);
    try {
      const doomed = await cloud.api("POST", "/v1/core/virtual-machines", { name: "sim-doomed", flavor_name: "n1-cpu-small", image_name: "Debian 12" });
      expect(doomed.status).toBe(200);
      const failed = await cloud.waitFor("VM error", async () => {
        const v = await vmStatus(doomed.json.instances[0].id);
        return v?.status === "ERROR" && v;
      }, 30_000);
      expect(failed.state_reason).toContain(SIMULATED_START_FAILURE);
      expect(fleet.counters.startFailuresInjected).toBeGreaterThan(0);
    } finally {
      fleet.setStartFailureRate(0);
    }
  }, 60_000);

  it("a host that dies on cue is Suspect (then Alert: no neighbour can probe it), and Up again when it comes back", async () => {
    const victim = fleet.hosts[3]!;
    fleet.kill(3, "silent");
    expect(victim.state).toBe("dead");
    const down = await cloud.waitFor("host past its deadline", async () => {
      const h = (await hosts()).find((x: any) => x.name === victim.spec.hostname);
      return (h?.state === "Suspect" || h?.state === "Alert") && h;
    }, 20_000);
    expect(["Suspect", "Alert"]).toContain(down.state);
    // The others kept heartbeating.
    expect((await hosts()).filter((h) => h.state === "Up")).toHaveLength(COUNT - 1);
    fleet.revive(3);
    await cloud.waitFor("host up again", async () => (await hosts()).find((x: any) => x.name === victim.spec.hostname)?.state === "Up", 20_000);
    expect(victim.state).toBe("connected");
  }, 60_000);
});

/** orbit-sim as users run it: its JSON lines and exit code. */
function runSim(args: string[]): Promise<{ code: number | null; lines: Record<string, any>[]; stderr: string }> {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const child = spawn(process.execPath, ["agent/bin/orbit-sim.js", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stdout.on("data", (b: Buffer) => { out += b.toString(); });
  child.stderr.on("data", (b: Buffer) => { err += b.toString(); });
  return new Promise((resolve) => child.on("exit", (code) => resolve({
    code, stderr: err, lines: out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l)),
  })));
}

describe("orbit-sim command", () => {
  it("connects its hosts, measures heartbeat lag and exits", async () => {
    const r = await runSim([
      "--manager", cloud.manager.grpcAddress, "--token", cloud.manager.agentToken, "--count", "4", "--name-prefix", "cli", "--seed", "5",
      "--report-ms", "0", "--warmup-s", "0.5", "--measure-s", "1", "--exit",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines.find((l) => l.event === "connected")).toMatchObject({ connected: 4, hosts: 4, connections: 4 });
    const m = r.lines.find((l) => l.event === "measurement")!;
    expect(m.lag.count).toBeGreaterThan(0);
    expect(m.acks).toBe(m.lag.count);
    const names = (await hosts()).map((h) => h.name).filter((n: string) => n.startsWith("cli-"));
    expect(names).toHaveLength(4);
  }, 60_000);

  it("refuses a bad flag with its name, exit code 2", async () => {
    const r = await runSim(["--token", "t", "--count", "ten"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('orbit-sim: --count: "ten" is not a whole number');
  }, 30_000);
});
