// `orbit-sim`: a simulated fleet at scale (sim-fleet.ts). Prints JSON lines on stdout: "connected"
// when every host is, a "report" every --report-ms, then with --measure-s "measure-start" and
// "measurement", with --flood-s "flood"; the log goes to stderr.
import pino from "pino";
import { exitOnStartupFailure } from "#shared/exit-on-startup-failure.js";
import { SIM_USAGE, parseSimArgs } from "./sim-args.js";
import { SimFleet } from "./sim-fleet.js";

function emit(event: string, fields: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ event, t: new Date().toISOString(), ...fields }) + "\n");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let fleet: SimFleet;
let o: ReturnType<typeof parseSimArgs>;
try {
  o = parseSimArgs(process.argv.slice(2), process.env);
  if (o.help) {
    process.stdout.write(SIM_USAGE);
    process.exit(0);
  }
  const log = pino({ level: o.logLevel }, pino.destination(2));
  fleet = new SimFleet({
    managers: o.managers, joinToken: o.token, log, count: o.count, mix: o.mix, seed: o.seed, namePrefix: o.namePrefix,
    heartbeatIntervalMs: o.heartbeatMs, agentsPerConnection: o.agentsPerConnection, connectConcurrency: o.connectConcurrency,
    latencyScale: o.latencyScale, startFailureRate: o.failRate, tickMs: o.tickMs, environment: o.environment, cluster: o.cluster,
    ...(o.storageHeartbeatDir ? { storageHeartbeatDir: o.storageHeartbeatDir } : {}), ...(o.clusterAddress ? { clusterAddress: o.clusterAddress } : {}),
  });
} catch (e) {
  exitOnStartupFailure("orbit-sim", e);
}

const stop = async (code: number) => {
  await fleet.stop();
  process.exit(code);
};
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));

const kinds: Record<string, number> = {};
for (const h of fleet.hosts) kinds[h.spec.kind] = (kinds[h.spec.kind] ?? 0) + 1;
emit("starting", { hosts: fleet.hosts.length, kinds, managers: o.managers, agentsPerConnection: o.agentsPerConnection, pid: process.pid });
const began = Date.now();
let reporter: NodeJS.Timeout | undefined;
if (o.reportMs > 0) reporter = setInterval(() => emit("report", { ...fleet.report(), connections: fleet.connections, rssMb: Math.round(process.memoryUsage().rss / 2 ** 20) }), o.reportMs);
const connected = await fleet.start();
emit("connected", { connected, hosts: fleet.hosts.length, ms: Date.now() - began, connections: fleet.connections, counters: fleet.counters });
for (const k of o.kills) {
  setTimeout(() => {
    fleet.kill(k.index, o.killMode);
    emit("killed", { index: k.index, host: fleet.hosts[k.index]!.spec.hostname, mode: o.killMode });
  }, k.afterS * 1000);
}

if (o.measureS > 0) {
  await sleep(o.warmupS * 1000);
  fleet.startWindow();
  const before = { ...fleet.counters };
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  emit("measure-start", {});
  await sleep(o.measureS * 1000);
  const lag = fleet.endWindow();
  const r = fleet.report();
  const ms = Date.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  emit("measurement", {
    seconds: ms / 1000, connected: fleet.counters.connected, heartbeatsSent: r.counters.heartbeatsSent - before.heartbeatsSent,
    acks: r.counters.acks - before.acks, ackRate: Math.round(((r.counters.acks - before.acks) * 1000) / ms),
    lag, unacked: r.unacked, oldestUnackedMs: r.oldestUnackedMs, streamsLost: r.counters.streamsLost - before.streamsLost,
    simCpuShare: (cpu.user + cpu.system) / 1000 / ms, simRssMb: Math.round(process.memoryUsage().rss / 2 ** 20), connections: fleet.connections,
  });
}
if (o.floodS > 0) {
  fleet.startWindow();
  const acks0 = fleet.counters.acks;
  const t0 = Date.now();
  fleet.flood(o.floodWindow);
  await sleep(o.floodS * 1000);
  const acks = fleet.counters.acks - acks0;
  const ms = Date.now() - t0;
  fleet.stopFlood();
  const lag = fleet.endWindow();
  emit("flood", { seconds: ms / 1000, window: o.floodWindow, acks, rate: Math.round((acks * 1000) / ms), lag });
}
if (o.exit) {
  clearInterval(reporter);
  await stop(0);
}
