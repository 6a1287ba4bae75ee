// How long a simulated host takes to carry out a command, and when one fails: log-normal
// latencies around what libvirt takes on a real host (a start is seconds, a query milliseconds),
// scaled by one factor, and failures drawn from the host's seeded random source.
import type { Random } from "./seeded-random.js";

/** Median and 99th percentile (ms) of each command kind on a real host; others take `default`. */
export const COMMAND_LATENCY_MS: Record<string, { p50: number; p99: number }> = {
  startVm: { p50: 1500, p99: 6000 },
  stopVm: { p50: 800, p99: 4000 },
  destroyVm: { p50: 400, p99: 2500 },
  rebootVm: { p50: 600, p99: 3000 },
  resizeVm: { p50: 300, p99: 1500 },
  createSnapshot: { p50: 2000, p99: 10000 },
  migrateVm: { p50: 5000, p99: 30000 },
  default: { p50: 50, p99: 400 },
};

/** z of the 99th percentile of a standard normal. */
const Z99 = 2.3263;

/** A standard normal draw (Box-Muller). */
export function normal(random: Random): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/**
 * A latency for a command of `kind`: log-normal with the kind's p50 and p99, times `scale`
 * (0: instant), capped at 3 x its p99 so one draw cannot stall a benchmark.
 */
export function commandLatencyMs(kind: string, scale: number, random: Random): number {
  if (scale <= 0) return 0;
  const { p50, p99 } = COMMAND_LATENCY_MS[kind] ?? COMMAND_LATENCY_MS.default!;
  const sigma = Math.log(p99 / p50) / Z99;
  return Math.min(p50 * Math.exp(sigma * normal(random)), 3 * p99) * scale;
}

/** Whether this start fails (QEMU could not start the guest), with probability `rate`. */
export function startFails(rate: number, random: Random): boolean {
  return rate > 0 && random() < rate;
}

export const SIMULATED_START_FAILURE = "simulated start failure: internal error: qemu unexpectedly closed the monitor";
