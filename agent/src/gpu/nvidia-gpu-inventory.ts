// The GPUs of a real host: runs nvidia-smi (-q -x, -L, topo -m, and vgpu -s -v on vGPU hosts),
// reads vGPU types and NUMA nodes from sysfs, and merges it all into proto Gpu facts.
// Never throws: a host without nvidia-smi has no GPUs; a failing or unreadable nvidia-smi leaves
// a warning for the agent to log and report, and the host still registers with its CPUs.
import { execa } from "execa";
import type { GpuDiscovery, GpuInventory } from "./gpu-inventory.js";
import { mergeGpuFacts } from "./gpu-facts.merge.js";
import { parseNvidiaSmiList, type ListedGpu } from "./nvidia-smi-list.parser.js";
import type { NvidiaSmiReport } from "./nvidia-smi-report.js";
import { parseNvidiaSmiTopo, type NvidiaTopology } from "./nvidia-smi-topo.parser.js";
import { parseNvidiaSmiVgpuTypes, type NvidiaVgpuTypesOfGpu } from "./nvidia-smi-vgpu.parser.js";
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

type RunResult = { ok: true; stdout: string } | { ok: false; missing: boolean; warning: string; stdout: string };

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
      return await this.discoverOrThrow();
    } catch (e) {
      return { gpus: [], warnings: [`GPU discovery failed: ${e instanceof Error ? e.message : String(e)}`] };
    }
  }

  private async run(args: string[]): Promise<RunResult> {
    const what = `${this.nvidiaSmi} ${args.join(" ")}`;
    const r = await execa(this.nvidiaSmi, args, { reject: false, timeout: this.timeoutMs, stdin: "ignore" });
    if (r.code === "ENOENT") return { ok: false, missing: true, warning: `${what}: not found`, stdout: "" };
    if (r.timedOut) return { ok: false, missing: false, warning: `${what} timed out after ${this.timeoutMs} ms`, stdout: "" };
    if (r.failed) {
      // nvidia-smi prints its own errors ("NVIDIA-SMI has failed because...") on stdout.
      const detail = firstLine(String(r.stderr ?? "")) || firstLine(String(r.stdout ?? "")) || r.shortMessage;
      const how = r.exitCode !== undefined ? `exit code ${r.exitCode}` : r.signal ? `signal ${r.signal}` : "spawn error";
      return { ok: false, missing: false, warning: `${what} failed (${how}): ${detail}`, stdout: String(r.stdout ?? "") };
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

  private async discoverOrThrow(): Promise<GpuDiscovery> {
    const warnings: string[] = [];
    const main = await this.run(["-q", "-x"]);
    if (!main.ok && main.missing) return { gpus: [], warnings: [] }; // no nvidia-smi: a host without NVIDIA GPUs
    let report: NvidiaSmiReport;
    if (!main.ok) {
      // With one GPU fallen off the bus nvidia-smi exits non-zero yet may still print the others.
      const partial = (() => { try { return parseNvidiaSmiXml(main.stdout); } catch { return undefined; } })();
      if (!partial || partial.gpus.length === 0) return { gpus: [], warnings: [main.warning] };
      warnings.push(`${main.warning}; using the ${partial.gpus.length} GPU(s) it still reported`);
      report = partial;
    } else {
      try {
        report = parseNvidiaSmiXml(main.stdout);
      } catch (e) {
        return { gpus: [], warnings: [`${this.nvidiaSmi} -q -x: output not understood, no GPUs reported (${(e as Error).message})`] };
      }
    }
    if (report.gpus.length === 0) return { gpus: [], warnings };

    const list = await this.optional<ListedGpu[]>(["-L"], parseNvidiaSmiList, warnings);
    const topology = await this.optional<NvidiaTopology>(["topo", "-m"], parseNvidiaSmiTopo, warnings);
    const scan = await this.sysfs.scan();
    warnings.push(...scan.warnings);

    let supportedVgpuTypes: NvidiaVgpuTypesOfGpu[] | undefined;
    const vgpuHost = scan.types.length > 0 || report.gpus.some((g) => g.virtualizationMode === "vgpu_host");
    if (this.queryVgpuTypes && vgpuHost) {
      supportedVgpuTypes = await this.optional(["vgpu", "-s", "-v"], parseNvidiaSmiVgpuTypes, warnings);
    }

    const sysfsNumaNodes: Record<string, number> = {};
    for (const g of report.gpus) {
      const fromTopo = topology?.gpus.find((t) => t.index === g.index)?.numaNode ?? -1;
      if (fromTopo < 0) sysfsNumaNodes[g.pciAddress] = await this.sysfs.numaNode(g.pciAddress);
    }

    const merged = mergeGpuFacts({ report, list, topology, sysfsVgpuTypes: scan.types, supportedVgpuTypes, sysfsNumaNodes });
    return { gpus: merged.gpus, warnings: [...warnings, ...merged.warnings] };
  }
}
