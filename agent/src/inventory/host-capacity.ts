// What a host can give to VMs: its memory and CPUs minus a reserve kept for the host itself
// (the reserve is a setting, in MiB and CPUs). Pure.
import { InvalidArgumentError } from "#shared/errors.js";

export interface HostReserve {
  /** Memory kept for the host OS, agent, QEMU overhead (MiB). */
  memoryMib: number;
  /** Logical CPUs kept for the host. Default 0. */
  cpus?: number;
}

export interface HostCapacity {
  totalMemoryMib: number;
  reservedMemoryMib: number;
  /** total − reserve, never below 0. */
  usableMemoryMib: number;
  totalCpus: number;
  reservedCpus: number;
  usableCpus: number;
}

function checkReserve(field: string, v: number): void {
  if (!Number.isFinite(v) || v < 0) throw new InvalidArgumentError(field, `${field} must be a number ≥ 0, got ${v}`);
}

/** usable memory = total − reserve (MiB), clamped at 0. */
export function usableMemoryMib(totalMib: number, reserveMib: number): number {
  checkReserve("memoryReserveMib", reserveMib);
  return Math.max(0, Math.floor(totalMib - reserveMib));
}

export function computeHostCapacity(host: { memoryMib: number; cpus: number }, reserve: HostReserve): HostCapacity {
  const reservedCpus = reserve.cpus ?? 0;
  checkReserve("memoryReserveMib", reserve.memoryMib);
  checkReserve("cpuReserve", reservedCpus);
  return {
    totalMemoryMib: host.memoryMib,
    reservedMemoryMib: Math.min(reserve.memoryMib, host.memoryMib),
    usableMemoryMib: usableMemoryMib(host.memoryMib, reserve.memoryMib),
    totalCpus: host.cpus,
    reservedCpus: Math.min(reservedCpus, host.cpus),
    usableCpus: Math.max(0, host.cpus - reservedCpus),
  };
}
