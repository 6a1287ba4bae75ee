// The FGD paper's own results (fgd-atc23-expected-unallocated.csv, derived from the authors' cached
// data): unallocated GPU % per workload, policy and arrived %.

export interface PaperPoint {
  workload: string;
  policy: string;
  arrivedPct: number;
  mean: number;
  sd: number;
  median: number;
}

export function parsePaperResults(text: string): PaperPoint[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  const header = (lines[0] ?? "").split(",");
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`paper results: missing column ${name}`);
    return i;
  };
  const [w, p, a, m, s, md] = ["workload", "policy", "arrived_pct", "unalloc_pct_mean", "unalloc_pct_sd", "unalloc_pct_median"].map(col) as [number, number, number, number, number, number];
  return lines.slice(1).map((l) => {
    const c = l.split(",");
    return { workload: c[w]!, policy: c[p]!, arrivedPct: Number(c[a]), mean: Number(c[m]), sd: Number(c[s]), median: Number(c[md]) };
  });
}
