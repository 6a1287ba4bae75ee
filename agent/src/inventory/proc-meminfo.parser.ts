// Parser for /proc/meminfo. Pure.
import { kibToMib } from "#shared/units.js";
import { InventoryParseError } from "./inventory-parse-error.js";

export interface ProcMeminfo {
  memTotalMib: number;
  /** The kernel's estimate of memory available for new work (MemAvailable, kernel ≥ 3.14). */
  memAvailableMib: number;
  memFreeMib: number;
  hugePagesTotal: number;
  hugePagesFree: number;
  hugepageSizeKib: number;
  /** Every field in KiB (or a bare count for the HugePages_* fields), as printed. */
  fields: Record<string, number>;
}

export function parseProcMeminfo(text: string): ProcMeminfo {
  const fields: Record<string, number> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^([\w()]+):\s+(\d+)(?:\s+kB)?\s*$/.exec(line);
    if (m) fields[m[1]!] = Number(m[2]);
  }
  const total = fields["MemTotal"];
  if (total === undefined) throw new InventoryParseError("/proc/meminfo", "no MemTotal line");
  const free = fields["MemFree"] ?? 0;
  // Old kernels lack MemAvailable: free + page cache is the usual stand-in.
  const available = fields["MemAvailable"] ?? free + (fields["Cached"] ?? 0) + (fields["Buffers"] ?? 0);
  return {
    memTotalMib: kibToMib(total),
    memAvailableMib: kibToMib(available),
    memFreeMib: kibToMib(free),
    hugePagesTotal: fields["HugePages_Total"] ?? 0,
    hugePagesFree: fields["HugePages_Free"] ?? 0,
    hugepageSizeKib: fields["Hugepagesize"] ?? 0,
    fields,
  };
}
