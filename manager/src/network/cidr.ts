// PURE: IPv4 CIDR arithmetic for the environment networks (parsing with ipaddr.js; ranges as
// 32-bit integers so that overlap checks and address picking are plain comparisons).
import ipaddr from "ipaddr.js";
import { InvalidArgumentError } from "#shared/errors.js";

export interface Cidr {
  /** Canonical text, e.g. "10.128.3.0/24" (host bits cleared). */
  text: string;
  prefix: number;
  /** First and last address of the block, as integers. */
  first: number;
  last: number;
}

export function ipToInt(address: string): number {
  return ipaddr.IPv4.parse(address).toByteArray().reduce((n, b) => n * 256 + b, 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

/** Parses an IPv4 CIDR; refuses (400 naming `field`) anything else, and host bits set. */
export function parseCidr(text: string, field: string): Cidr {
  if (!ipaddr.IPv4.isValidCIDR(text)) throw new InvalidArgumentError(field, `${field}: "${text}" is not an IPv4 CIDR such as 10.128.0.0/24`);
  const [addr, prefix] = ipaddr.IPv4.parseCIDR(text);
  const size = 2 ** (32 - prefix);
  const start = ipToInt(addr.toString());
  const first = start - (start % size);
  if (first !== start) {
    throw new InvalidArgumentError(field, `${field}: "${text}" has host bits set; the network is ${intToIp(first)}/${prefix}`);
  }
  return { text: `${intToIp(first)}/${prefix}`, prefix, first, last: first + size - 1 };
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.first <= b.last && b.first <= a.last;
}

export function contains(c: Cidr, address: string): boolean {
  const n = ipToInt(address);
  return n >= c.first && n <= c.last;
}

/** A private network's gateway: its first address. */
export function gatewayOf(c: Cidr): string {
  return intToIp(c.first + 1);
}

/** The addresses VMs may get: after the gateway, before the broadcast address. */
export function vmAddressRange(c: Cidr): { first: number; last: number } {
  return { first: c.first + 2, last: c.last - 1 };
}

/** The addresses of a floating pool: all but the network and broadcast addresses (a /32 or /31 is used whole). */
export function poolAddressRange(c: Cidr): { first: number; last: number } {
  return c.prefix >= 31 ? { first: c.first, last: c.last } : { first: c.first + 1, last: c.last - 1 };
}

/** The first block of that prefix in the supernet that overlaps none of `taken`, or undefined when there is none. */
export function firstFreeBlock(supernet: Cidr, prefix: number, taken: readonly Cidr[]): Cidr | undefined {
  const size = 2 ** (32 - prefix);
  const sorted = [...taken].sort((x, y) => x.first - y.first);
  for (let start = supernet.first; start + size - 1 <= supernet.last; start += size) {
    const block: Cidr = { text: `${intToIp(start)}/${prefix}`, prefix, first: start, last: start + size - 1 };
    const hit = sorted.find((t) => overlaps(t, block));
    if (!hit) return block;
    // Skip past the block in the way (aligned up to the next block of this size).
    const next = Math.ceil((hit.last + 1) / size) * size;
    start = next - size;
  }
  return undefined;
}
