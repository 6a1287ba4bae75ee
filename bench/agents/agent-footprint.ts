// What one simulated host costs in a process: the real OrbitAgent (dev/simulated-fleet.ts's way:
// its own channel, timers, logger child, console machinery) against orbit-sim's lean SimHost,
// both at a 1 s heartbeat against the bare stream server. Each mode runs in a child process of its
// own (this file with --mode), so their memory does not mix.
//
//   npx tsx bench/agents/agent-footprint.ts --hosts 300
import { parseArgs } from "node:util";
import v8 from "node:v8";
import vm from "node:vm";
import pino from "pino";
import { OrbitAgent } from "@orbit/agent/src/agent.js";
import { MemoryIdentityStore } from "@orbit/agent/src/connection/identity-store.js";
import { simulatedGpus } from "@orbit/agent/src/drivers/simulator/simulated-gpus.js";
import { SimulatorHypervisor } from "@orbit/agent/src/drivers/simulator/simulator-hypervisor.js";
import { StaticGpuInventory } from "@orbit/agent/src/gpu/gpu-inventory.js";
import { buildFleet } from "@orbit/agent/src/sim/fleet-mix.js";
import { SimFleet } from "@orbit/agent/src/sim/sim-fleet.js";
import { machine, startChild } from "../support/processes.js";

const { values } = parseArgs({
  options: { "per-connection": { type: "string", default: "1" }, hosts: { type: "string", default: "300" }, seconds: { type: "string", default: "10" }, mode: { type: "string" }, address: { type: "string" } },
});
const n = Number(values.hosts);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (values.mode) {
  // One measurement: connect n hosts, settle, then CPU over the window and RSS.
  const log = pino({ level: "silent" });
  // RSS after a full collection, before and after: what the hosts keep, not the garbage of registering them.
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  gc();
  const rss0 = process.memoryUsage().rss;
  const timers0 = (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo().filter((r) => r === "Timeout").length;
  let stop: () => Promise<void>;
  if (values.mode === "orbit-agent") {
    const agents = buildFleet({ count: n, seed: 1 }).map((h) => new OrbitAgent({
      managerAddress: values.address!, joinToken: "bare", identity: new MemoryIdentityStore(),
      hypervisor: new SimulatorHypervisor({ hostUuid: h.uuid, hostname: h.hostname, cpus: h.cpus, memoryMib: h.memoryMib, numaCells: h.numaCells }),
      gpus: new StaticGpuInventory(simulatedGpus(h.uuid, h.gpus, h.numaCells)),
      host: { tags: h.tags, environment: "default", cluster: "default" }, log: log.child({ agent: h.hostname }),
    }));
    for (const a of agents) a.start();
    await Promise.all(agents.map((a) => a.connection.connected));
    stop = async () => { await Promise.all(agents.map((a) => a.stop())); };
  } else {
    const fleet = new SimFleet({ managers: [values.address!], joinToken: "bare", log, count: n, seed: 1, latencyScale: 0, agentsPerConnection: Number(values["per-connection"]) });
    await fleet.start();
    stop = () => fleet.stop();
  }
  await sleep(3000);
  const timers = (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo().filter((r) => r === "Timeout").length - timers0;
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  await sleep(Number(values.seconds) * 1000);
  const cpu = process.cpuUsage(cpu0);
  const ms = Date.now() - t0;
  gc();
  const rss = process.memoryUsage().rss;
  process.stdout.write(JSON.stringify({ mode: values.mode, cpuShare: (cpu.user + cpu.system) / 1000 / ms, rssPerHostKb: (rss - rss0) / 1024 / n, rssMb: rss / 2 ** 20, timers }) + "\n");
  await stop();
  process.exit(0);
}

console.log(`$ npx tsx bench/agents/agent-footprint.ts ${process.argv.slice(2).join(" ")}`);
console.log(machine());
const bare = startChild("bench/agents/bare-stream-server.ts", [], { BARE_HEARTBEAT_MS: "1000" });
const { port } = await bare.next<{ port: number }>(undefined, 60_000);
console.log(`\n${n} hosts at a 1 s heartbeat against the bare stream server, ${values.seconds} s measured:\n`);
console.log("| hosts as | TCP connections | process CPU (of one core) | RSS (MB) | RSS per host (KB) | timers (active after connecting) |");
console.log("|---|---:|---:|---:|---:|---:|");
try {
  // OrbitAgents' channels have one target and the same options: grpc-js's global subchannel pool gives them one connection.
  const runs: [string, string, string, string][] = [
    ["orbit-agent", "1", "OrbitAgent (dev/simulated-fleet.ts)", "1"],
    ["orbit-sim", String(n), "orbit-sim SimHost, all hosts on one connection", "1"],
    ["orbit-sim", "1", "orbit-sim SimHost, a connection per host (its default)", String(n)],
  ];
  for (const [mode, per, label, conns] of runs) {
    const c = startChild("bench/agents/agent-footprint.ts", ["--mode", mode, "--per-connection", per, "--hosts", String(n), "--seconds", values.seconds!, "--address", `127.0.0.1:${port}`], {});
    const r = await c.next(undefined, 300_000);
    await c.exited;
    console.log(`| ${label} | ${conns} | ${(r.cpuShare * 100).toFixed(1)}% | ${r.rssMb.toFixed(0)} | ${r.rssPerHostKb.toFixed(0)} | ${r.timers} |`);
  }
} finally {
  await bare.stop();
}
