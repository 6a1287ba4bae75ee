// Replays Alibaba's GPU cluster trace (cluster-trace-gpu-v2023, as in the FGD paper, ATC '23) through
// Orbit's allocator core for each policy and prints unallocated GPU % at arrived = 100% (and 130%)
// next to the paper's published numbers; writes the unallocated-vs-arrived plot as SVG.
//
//   npx tsx bench/trace-replay/run.ts --traces-dir DIR [--seeds N] [--traces a,b] [--policies a,b]
//                                     [--no-reimpl] [--vgpu-profiles] [--svg FILE]
//   (or ORBIT_TRACES_DIR=DIR instead of --traces-dir; the team's copy is ../shared/fixtures/traces)
//
// The trace files are research-only fixtures: read from DIR, never copied into the repository.
import { readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { AllocatorPlacer } from "./allocator-placer.js";
import { arrivalSequence } from "./arrival-sequence.js";
import { FlatFleet, PaperBestFitPlacer, PaperFgdPlacer, PaperRandomPlacer, paperTypicalPods } from "./flat-fleet.js";
import { parsePaperResults, type PaperPoint } from "./paper-results.js";
import { REPLAY_POLICIES } from "./policies.js";
import { meanSd, replay, unallocatedPctAt, type PodPlacer } from "./replay.js";
import { renderPanels, type Series } from "./svg-plot.js";
import { parseNodeList, parsePodList, type TraceNode, type TracePod } from "./trace-csv.js";
import { traceSnapshot, type ShareMode } from "./trace-mapping.js";
import { resolveTracesDir, TracesDirError } from "./traces-dir.js";

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    "traces-dir": { type: "string" },
    seeds: { type: "string", default: "10" },
    traces: { type: "string", default: "default,gpushare40,multigpu20" },
    policies: { type: "string" },
    "no-reimpl": { type: "boolean", default: false },
    "vgpu-profiles": { type: "boolean", default: false },
    svg: { type: "string" },
  },
});
const traces = values.traces!.split(",");
let dir: string;
try {
  dir = resolveTracesDir(values["traces-dir"], process.env, ["openb_node_list_gpu_node.csv", "fgd-atc23-expected-unallocated.csv", ...traces.map((t) => `openb_pod_list_${t}.csv`)]);
} catch (e) {
  if (!(e instanceof TracesDirError)) throw e;
  console.error(`trace replay: ${e.message}`);
  process.exit(2);
}
const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => 42 + i);
const mode: ShareMode = values["vgpu-profiles"] ? "vgpu-profiles" : "fractional";
const svgPath = values.svg ?? join(here, mode === "fractional" ? "unallocated-vs-arrived.svg" : "unallocated-vs-arrived-vgpu-profiles.svg");
const wanted = values.policies?.split(",");

const nodes: TraceNode[] = parseNodeList(readFileSync(join(dir, "openb_node_list_gpu_node.csv"), "utf8"));
const capacity = nodes.reduce((s, n) => s + n.gpuCount * 1000, 0);
const paper: PaperPoint[] = parsePaperResults(readFileSync(join(dir, "fgd-atc23-expected-unallocated.csv"), "utf8"));
const CURVE_X = Array.from({ length: 131 }, (_, i) => i);

interface Runner {
  name: string;
  label: string;
  color: string;
  dashed?: boolean;
  make(seed: number, pods: readonly TracePod[]): PodPlacer;
}

const COLORS: Record<string, string> = {
  random: "#999999",
  firstfit: "#8c6d31",
  vertical: "#1f77b4",
  "orbit-default": "#9467bd",
  "gpu-fragmentation": "#d62728",
};
const runners: Runner[] = REPLAY_POLICIES.filter((p) => !wanted || wanted.includes(p.name)).map((p) => ({
  name: p.name,
  label: `${p.name} (Orbit core)`,
  color: COLORS[p.name] ?? "#000",
  make: (seed) => new AllocatorPlacer(traceSnapshot(nodes, mode), p.build(), seed, mode),
}));
if (!values["no-reimpl"] && mode === "fractional") {
  // The paper's policies re-implemented on a flat fleet model: validates the harness itself.
  runners.push(
    { name: "Random (re-impl)", label: "paper Random, re-implemented", color: "#999999", dashed: true, make: (seed) => new PaperRandomPlacer(new FlatFleet(nodes), seed) },
    { name: "BestFit (re-impl)", label: "paper BestFit, re-implemented", color: "#1f77b4", dashed: true, make: (seed) => new PaperBestFitPlacer(new FlatFleet(nodes), seed) },
    { name: "FGD (re-impl)", label: "paper FGD, re-implemented", color: "#2ca02c", dashed: true, make: (seed, pods) => new PaperFgdPlacer(new FlatFleet(nodes), seed, paperTypicalPods(pods)) },
  );
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (x: { mean: number; sd: number }): string => `${x.mean.toFixed(2)} ± ${x.sd.toFixed(2)}`;

const started = Date.now();
const panels: { title: string; series: Series[] }[] = [];
const summary = new Map<string, Map<string, string>>();
console.log(`# Trace replay: unallocated GPU % at arrived = 100% of ${capacity / 1000} GPUs (${seeds.length} seeds ${seeds[0]}..${seeds.at(-1)}, inflation to 130%, ${mode} GPU sharing)\n`);
for (const trace of traces) {
  const workload = `openb_pod_list_${trace}`;
  const pods = parsePodList(readFileSync(join(dir, `${workload}.csv`), "utf8"));
  const sequences = seeds.map((seed) => arrivalSequence(pods, { seed, capacityMilliGpu: capacity, tuneRatio: 1.3 }));
  const rows: string[] = [];
  const series: Series[] = [];
  const col = new Map<string, string>();
  for (const r of runners) {
    const t0 = Date.now();
    const at100: number[] = [];
    const at130: number[] = [];
    const failed: number[] = [];
    const curves: number[][] = [];
    let placements = 0;
    seeds.forEach((seed, k) => {
      const seq = sequences[k]!;
      const res = replay(seq, r.make(seed, pods));
      placements += seq.length;
      at100.push(unallocatedPctAt(res, capacity, 100));
      at130.push(unallocatedPctAt(res, capacity, 130));
      failed.push(res.failed);
      curves.push(CURVE_X.map((x) => unallocatedPctAt(res, capacity, x)));
    });
    const secs = (Date.now() - t0) / 1000;
    const m100 = meanSd(at100);
    col.set(r.name, fmt(m100));
    rows.push(`| ${r.name} | **${fmt(m100)}** | ${fmt(meanSd(at130))} | ${(placements / secs).toFixed(0)} |`);
    series.push({ label: r.label, color: r.color, dashed: r.dashed, points: CURVE_X.map((x, i) => [x, median(curves.map((c) => c[i]!))] as const) });
    process.stderr.write(`${trace} ${r.name}: ${fmt(m100)} (${secs.toFixed(1)}s)\n`);
  }
  for (const [policy, color] of [["Random", "#999999"], ["BestFit", "#1f77b4"], ["FGD", "#2ca02c"]] as const) {
    const pts = paper.filter((p) => p.workload === workload && p.policy === policy);
    const p100 = pts.find((p) => p.arrivedPct === 100);
    const p130 = pts.find((p) => p.arrivedPct === 130);
    if (p100 === undefined) continue;
    col.set(`paper ${policy}`, fmt(p100));
    rows.push(`| paper ${policy} (published) | ${fmt(p100)} | ${p130 ? fmt(p130) : "-"} | - |`);
    series.push({ label: `paper ${policy} (published, median)`, color, markersOnly: true, points: pts.map((p) => [p.arrivedPct, p.median] as const) });
  }
  summary.set(trace, col);
  console.log(`## ${trace}\n\n| policy | unallocated % @ arrived 100% | @ 130% | placements/s |\n|---|---|---|---|\n${rows.join("\n")}\n`);
  panels.push({ title: trace, series });
}
const names = [...new Set([...summary.values()].flatMap((m) => [...m.keys()]))];
console.log(`## Summary (unallocated GPU % at arrived = 100%, mean ± sd)\n\n| trace | ${names.join(" | ")} |\n|---|${names.map(() => "---").join("|")}|`);
for (const [trace, m] of summary) console.log(`| ${trace} | ${names.map((n) => m.get(n) ?? "-").join(" | ")} |`);
const secs = (Date.now() - started) / 1000;
console.log(`\n${new Date().toISOString()} · ${cpus()[0]?.model ?? "cpu"} (${cpus().length} cores, one used) · Node ${process.version} · ${secs.toFixed(0)} s total`);
writeFileSync(svgPath, renderPanels(panels, { xMax: 130, yMax: 100, title: `Unallocated GPU % vs arrived workload (${mode}; median of ${seeds.length} seeds)` }));
console.log(`plot: ${svgPath}`);
