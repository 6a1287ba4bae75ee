// The GPUs of a real host: runs nvidia-smi (-q -x, -L, topo -m, and vgpu -s -v on vGPU hosts),
// reads vGPU types and NUMA nodes from sysfs, and merges it all into proto Gpu facts. When -q -x
// fails or prints no readable XML, the text form (-q) is tried before giving up on the GPUs.
// What a parser skipped in an output it otherwise understood is kept as a warning too.
// Never throws: a host without nvidia-smi has no GPUs; a failing or unreadable nvidia-smi leaves
// a warning for the agent to log and report, and the host still registers with its CPUs.
import { execa } from "execa";
import { boundDiscoveryWarnings, type GpuDiscovery, type GpuInventory } from "./gpu-inventory.js";
import { mergeGpuFacts } from "./gpu-facts.merge.js";
import { parseNvidiaSmiList, type NvidiaSmiListing } from "./nvidia-smi-list.parser.js";
import type { NvidiaSmiReport } from "./nvidia-smi-report.js";
import { parseNvidiaSmiText } from "./nvidia-smi-text.parser.js";
import { parseNvidiaSmiTopo, type NvidiaTopology } from "./nvidia-smi-topo.parser.js";
import { parseNvidiaSmiVgpuTypes, type NvidiaVgpuListing } from "./nvidia-smi-vgpu.parser.js";
import { parseNvidiaSmiXml } from "./nvidia-smi-xml.parser.js";
import { VgpuSysfsReader } from "./vgpu-sysfs.reader.js";

export interface NvidiaGpuInventoryOptions {
  /** nvidia-smi binary, a name on PATH or a path. Default "nvidia-smi". */
  nvidiaSmiPath?: string;
  /** Default "/sys". */
  sysfsRoot?: string;
  /** Per nvidia-smi call. Default 30 s (a busy 8-GPU host can take several seconds for -q). */
  timeoutMs?: number;
  /** Run `nvidia-smi vgpu -s -v` when the host offers vGPU types. Default true. */
  queryVgpuTypes?: boolean;
}

type RunResult =
  | { ok: true; stdout: string }
  | { ok: false; missing: boolean; timedOut: boolean; warning: string; stdout: string };

const firstLine = (s: string): string => s.trim().split(/\r?\n/)[0]?.slice(0, 300) ?? "";

export class NvidiaGpuInventory implements GpuInventory {
  private readonly nvidiaSmi: string;
  private readonly timeoutMs: number;
  private readonly queryVgpuTypes: boolean;
  private readonly sysfs: VgpuSysfsReader;

  constructor(opts: NvidiaGpuInventoryOptions = {}) {
    this.nvidiaSmi = opts.nvidiaSmiPath ?? "nvidia-smi";
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.queryVgpuTypes = opts.queryVgpuTypes ?? true;
    this.sysfs = new VgpuSysfsReader({ sysfsRoot: opts.sysfsRoot });
  }

  async discover(): Promise<GpuDiscovery> {
    try {
      const d = await this.discoverOrThrow();
      return { gpus: d.gpus, warnings: boundDiscoveryWarnings(d.warnings) };
    } catch (e) {
      return { gpus: [], warnings: [`GPU discovery failed: ${e instanceof Error ? e.message : String(e)}`] };
    }
  }

  private async run(args: string[]): Promise<RunResult> {
    const what = `${this.nvidiaSmi} ${args.join(" ")}`;
    const r = await execa(this.nvidiaSmi, args, { reject: false, timeout: this.timeoutMs, stdin: "ignore" });
    if (r.code === "ENOENT") return { ok: false, missing: true, timedOut: false, warning: `${what}: not found`, stdout: "" };
    if (r.timedOut) return { ok: false, missing: false, timedOut: true, warning: `${what} timed out after ${this.timeoutMs} ms`, stdout: "" };
    if (r.failed) {
      // nvidia-smi prints its own errors ("NVIDIA-SMI has failed because...") on stdout.
      const detail = firstLine(String(r.stderr ?? "")) || firstLine(String(r.stdout ?? "")) || r.shortMessage;
      const how = r.exitCode !== undefined ? `exit code ${r.exitCode}` : r.signal ? `signal ${r.signal}` : "spawn error";
      return { ok: false, missing: false, timedOut: false, warning: `${what} failed (${how}): ${detail}`, stdout: String(r.stdout ?? "") };
    }
    return { ok: true, stdout: String(r.stdout) };
  }

  /** Runs and parses one optional source; a failure is a warning and the source is left out. */
  private async optional<T>(args: string[], parse: (s: string) => T, warnings: string[]): Promise<T | undefined> {
    const r = await this.run(args);
    if (!r.ok) {
      warnings.push(r.warning);
      return undefined;
    }
    try {
      return parse(r.stdout);
    } catch (e) {
      warnings.push(`${this.nvidiaSmi} ${args.join(" ")}: output not understood (${(e as Error).message}); ignored`);
      return undefined;
    }
  }

  /** The GPU report of `nvidia-smi -q` in `form`, or why there is none. A failing run that still
   *  printed some GPUs (one fallen off the bus) gives those, with its failure as a warning. */
  private async report(form: "xml" | "text"): Promise<
    { report: NvidiaSmiReport; warnings: string[] } | { report?: undefined; problem: string; missing: boolean; timedOut: boolean }
  > {
    const args = form === "xml" ? ["-q", "-x"] : ["-q"];
    const parse = form === "xml" ? parseNvidiaSmiXml : parseNvidiaSmiText;
    const r = await this.run(args);
    if (!r.ok && (r.missing || r.timedOut)) return { problem: r.warning, missing: r.missing, timedOut: r.timedOut };
    let parsed: NvidiaSmiReport | undefined;
    let parseProblem = "";
    try {
      parsed = parse(r.stdout);
    } catch (e) {
      parseProblem = (e as Error).message;
    }
    if (!r.ok) {
      if (!parsed || parsed.gpus.length === 0) return { problem: r.warning, missing: false, timedOut: false };
      return { report: parsed, warnings: [`${r.warning}; using the ${parsed.gpus.length} GPU(s) it still reported`, ...parsed.warnings] };
    }
    if (!parsed) return { problem: `${this.nvidiaSmi} ${args.join(" ")}: output not understood (${parseProblem})`, missing: false, timedOut: false };
    return { report: parsed, warnings: parsed.warnings };
  }

  private async discoverOrThrow(): Promise<GpuDiscovery> {
    const warnings: string[] = [];
    const xml = await this.report("xml");
    let report: NvidiaSmiReport;
    if (xml.report) {
      report = xml.report;
      warnings.push(...xml.warnings);
    } else {
      if (xml.missing) return { gpus: [], warnings: [] }; // no nvidia-smi: a host without NVIDIA GPUs
      // A hung nvidia-smi would only hang again on -q.
      if (xml.timedOut) return { gpus: [], warnings: [xml.problem] };
      const text = await this.report("text");
      if (!text.report || text.report.gpus.length === 0) {
        const why = text.report ? "it lists no GPUs" : text.problem;
        return { gpus: [], warnings: [`${xml.problem}; no GPUs reported (fallback to the text form: ${why})`] };
      }
      report = text.report;
      warnings.push(`${xml.problem}; using the text form (${this.nvidiaSmi} -q) instead`, ...text.warnings);
    }
    if (report.gpus.length === 0) return { gpus: [], warnings };

    const listing = await this.optional<NvidiaSmiListing>(["-L"], parseNvidiaSmiList, warnings);
    warnings.push(...(listing?.warnings ?? []));
    const topology = await this.optional<NvidiaTopology>(["topo", "-m"], parseNvidiaSmiTopo, warnings);
    const scan = await this.sysfs.scan();
    warnings.push(...scan.warnings);

    let supported: NvidiaVgpuListing | undefined;
    const vgpuHost = scan.types.length > 0 || scan.vfioVfs.length > 0 || report.gpus.some((g) => g.virtualizationMode === "vgpu_host");
    if (this.queryVgpuTypes && vgpuHost) {
      supported = await this.optional(["vgpu", "-s", "-v"], parseNvidiaSmiVgpuTypes, warnings);
      warnings.push(...(supported?.warnings ?? []));
    }

    const sysfsNumaNodes: Record<string, number> = {};
    for (const g of report.gpus) {
      const fromTopo = topology?.gpus.find((t) => t.index === g.index)?.numaNode ?? -1;
      if (fromTopo < 0) sysfsNumaNodes[g.pciAddress] = await this.sysfs.numaNode(g.pciAddress);
    }

    const merged = mergeGpuFacts({
      report, list: listing?.gpus, topology, sysfsVgpuTypes: scan.types, supportedVgpuTypes: supported?.gpus, sysfsNumaNodes,
    });
    return { gpus: merged.gpus, warnings: [...warnings, ...merged.warnings] };
  }
}
