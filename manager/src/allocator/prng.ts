// Seeded randomness for the allocator: deterministic for a given seed, no global state.
// Per-host draws are a hash of (seed, vm, host) rather than a stream, so a score can be
// recomputed for the winning host and does not depend on the order hosts are visited.

/** A 32-bit integer mix (murmur3 finaliser). */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Uniform in [0, 1) determined by the three integers. */
export function hashUnit(seed: number, a: number, b: number): number {
  const h = mix32(mix32(mix32(seed ^ 0x9e3779b9) ^ a) + Math.imul(b, 0x27d4eb2f));
  return h / 4294967296;
}

/** A small seeded generator (mulberry32) for callers that want a stream. */
export { seededRandom } from "#shared/seeded-random.js";
