// orbit-sim's command line, checked: every bad flag is refused with its name and what is wrong.
import { parseArgs } from "node:util";
import { InvalidArgumentError } from "#shared/errors.js";
import type { DeathMode } from "./sim-host.js";
import { DEFAULT_MIX, parseMix } from "./fleet-mix.js";

export interface SimCliOptions {
  managers: string[];
  token: string;
  count: number;
  mix: string;
  seed: number;
  namePrefix: string;
  heartbeatMs: number;
  agentsPerConnection: number;
  connectConcurrency: number;
  latencyScale: number;
  failRate: number;
  /** Hosts that die on cue: index and seconds after the whole fleet is connected. */
  kills: { index: number; afterS: number }[];
  killMode: DeathMode;
  reportMs: number;
  warmupS: number;
  /** 0: no measurement window (run until a signal). */
  measureS: number;
  /** Heartbeats back to back for this long after the measurement (0: none). */
  floodS: number;
  floodWindow: number;
  tickMs: number;
  logLevel: string;
  environment: string;
  cluster: string;
  storageHeartbeatDir: string | undefined;
  clusterAddress: string | undefined;
}

export const SIM_USAGE = `orbit-sim: N simulated Orbit hosts in one process, each its own gRPC client and stream.

  --manager HOST:PORT      manager gRPC address (repeat, or comma-separated, for failover)  [127.0.0.1:9090]
  --token TOKEN            join token (or ORBIT_AGENT_TOKEN)
  --count N                hosts                                                     [100]
  --mix KIND:W,...         host kinds and weights: cpu, h100, a100, vgpu             [${DEFAULT_MIX}]
  --seed N                 host UUIDs, kinds, timing and failures repeat for a seed  [1]
  --name-prefix P          host names P-<kind>-<index>                               [sim]
  --heartbeat-ms MS        heartbeat interval until the manager sets it (ping.interval) [10000]
  --agents-per-connection K  hosts sharing one HTTP/2 connection                     [1]
  --connect-concurrency C  registrations in flight                                   [64]
  --latency-scale X        command latencies (log-normal per kind) times X; 0 instant [1]
  --fail-rate P            share of VM starts that fail                              [0]
  --kill I@S,...           host I dies S seconds after the fleet is connected
  --kill-mode cancel|silent  a dead host cancels its stream, or goes silent on it    [cancel]
  --report-ms MS           a JSON report line on stdout this often (0: none)         [5000]
  --warmup-s S, --measure-s S  after connecting, wait S, then measure for S and print a "measurement" line
  --flood-s S              then send heartbeats back to back for S seconds ("flood" line)
  --flood-window W         heartbeats in flight per host while flooding              [4]
  --tick-ms MS             the shared timer's resolution: heartbeats due together leave together [50]
  --log-level LEVEL        pino level of the log on stderr                           [warn]
  --environment E, --cluster C  where the hosts register                             [default]
  --storage-heartbeat-dir D  HA: each host writes its storage heartbeat file in D and answers
                           the manager's ProbeHost from it (D shared by every host of the cluster)
  --cluster-address A      HA: the address each host reports for neighbours' probes (simulated hosts
                           never reach each other: a probe's network leg always says unreachable)
  --exit                   exit after the measurement (and flood) instead of running on
`;

function num(name: string, v: string | undefined, dflt: number, o: { min: number; max?: number; int?: boolean }): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || (o.int && !Number.isInteger(n)) || n < o.min || (o.max !== undefined && n > o.max)) {
    throw new InvalidArgumentError(name, `--${name}: "${v}" is not ${o.int ? "a whole number" : "a number"} ≥ ${o.min}${o.max !== undefined ? ` and ≤ ${o.max}` : ""}`);
  }
  return n;
}

const ADDRESS_RE = /^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/;

export function parseSimArgs(argv: string[], env: Record<string, string | undefined> = {}): SimCliOptions & { exit: boolean; help: boolean } {
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv, allowPositionals: false, strict: true,
      options: {
        manager: { type: "string", multiple: true }, token: { type: "string" }, count: { type: "string" }, mix: { type: "string" },
        seed: { type: "string" }, "name-prefix": { type: "string" }, "heartbeat-ms": { type: "string" },
        "agents-per-connection": { type: "string" }, "connect-concurrency": { type: "string" }, "latency-scale": { type: "string" },
        "fail-rate": { type: "string" }, kill: { type: "string" }, "kill-mode": { type: "string" }, "report-ms": { type: "string" },
        "warmup-s": { type: "string" }, "measure-s": { type: "string" }, "flood-s": { type: "string" }, "flood-window": { type: "string" }, "tick-ms": { type: "string" },
        "log-level": { type: "string" }, environment: { type: "string" }, cluster: { type: "string" },
        "storage-heartbeat-dir": { type: "string" }, "cluster-address": { type: "string" }, exit: { type: "boolean" }, help: { type: "boolean" },
      },
    }));
  } catch (e) {
    throw new InvalidArgumentError("argv", (e as Error).message);
  }
  const s = (k: string) => values[k] as string | undefined;
  const managers = ((values.manager as string[] | undefined) ?? ["127.0.0.1:9090"]).flatMap((m) => m.split(",")).map((m) => m.trim()).filter(Boolean);
  for (const m of managers) if (!ADDRESS_RE.test(m)) throw new InvalidArgumentError("manager", `--manager: "${m}" is not HOST:PORT`);
  const token = s("token") ?? env.ORBIT_AGENT_TOKEN ?? "";
  const help = Boolean(values.help);
  if (!token && !help) throw new InvalidArgumentError("token", "--token (or ORBIT_AGENT_TOKEN) is required: the manager's join token");
  const count = num("count", s("count"), 100, { min: 0, max: 100_000, int: true });
  const mix = s("mix") ?? DEFAULT_MIX;
  parseMix(mix);
  const kills = (s("kill") ?? "").split(",").map((k) => k.trim()).filter(Boolean).map((k) => {
    const m = /^(\d+)@(\d+(?:\.\d+)?)$/.exec(k);
    if (!m) throw new InvalidArgumentError("kill", `--kill: "${k}" is not INDEX@SECONDS`);
    const index = Number(m[1]);
    if (index >= count) throw new InvalidArgumentError("kill", `--kill: host ${index} does not exist (--count ${count})`);
    return { index, afterS: Number(m[2]) };
  });
  const killMode = s("kill-mode") ?? "cancel";
  if (killMode !== "cancel" && killMode !== "silent") throw new InvalidArgumentError("kill-mode", `--kill-mode: "${killMode}" is not cancel or silent`);
  const clusterAddress = s("cluster-address");
  if (clusterAddress !== undefined && (!/^[A-Za-z0-9_.:[\]%-]+$/.test(clusterAddress) || clusterAddress.startsWith("-"))) {
    throw new InvalidArgumentError("cluster-address", `--cluster-address: "${clusterAddress}" is not an IP address or host name`);
  }
  const storageHeartbeatDir = s("storage-heartbeat-dir");
  if (storageHeartbeatDir !== undefined && storageHeartbeatDir.trim() === "") throw new InvalidArgumentError("storage-heartbeat-dir", "--storage-heartbeat-dir: empty");
  const logLevel = s("log-level") ?? "warn";
  if (!["fatal", "error", "warn", "info", "debug", "trace", "silent"].includes(logLevel)) {
    throw new InvalidArgumentError("log-level", `--log-level: "${logLevel}" is not a pino level`);
  }
  return {
    managers, token, count, mix, kills, killMode, logLevel, help, storageHeartbeatDir, clusterAddress,
    seed: num("seed", s("seed"), 1, { min: 0, max: 2 ** 32 - 1, int: true }),
    namePrefix: s("name-prefix") ?? "sim",
    heartbeatMs: num("heartbeat-ms", s("heartbeat-ms"), 10_000, { min: 100, max: 600_000, int: true }),
    agentsPerConnection: num("agents-per-connection", s("agents-per-connection"), 1, { min: 1, max: 100_000, int: true }),
    connectConcurrency: num("connect-concurrency", s("connect-concurrency"), 64, { min: 1, max: 10_000, int: true }),
    latencyScale: num("latency-scale", s("latency-scale"), 1, { min: 0, max: 100 }),
    failRate: num("fail-rate", s("fail-rate"), 0, { min: 0, max: 1 }),
    reportMs: num("report-ms", s("report-ms"), 5000, { min: 0, int: true }),
    warmupS: num("warmup-s", s("warmup-s"), 0, { min: 0 }),
    measureS: num("measure-s", s("measure-s"), 0, { min: 0 }),
    floodS: num("flood-s", s("flood-s"), 0, { min: 0 }),
    floodWindow: num("flood-window", s("flood-window"), 4, { min: 1, max: 1000, int: true }),
    tickMs: num("tick-ms", s("tick-ms"), 50, { min: 1, max: 1000, int: true }),
    environment: s("environment") ?? "default",
    cluster: s("cluster") ?? "default",
    exit: Boolean(values.exit),
  };
}
