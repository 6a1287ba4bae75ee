// How full a host is, shared by the allocated-capacity and leastconsumed scorers.

import type { FleetHost } from "./fleet.js";

/** Mean of the CPU and memory shares allocated on a host, 0..1 (the vertical/horizontal key). */
export function allocatedShare(h: FleetHost): number {
  const cpu = h.cpuCapacity > 0 ? h.cpuUsed / h.cpuCapacity : 1;
  const mem = h.memCapacity > 0 ? h.memUsed / h.memCapacity : 1;
  const s = (cpu + mem) / 2;
  return s < 0 ? 0 : s > 1 ? 1 : s;
}
