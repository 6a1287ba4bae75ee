// A small seeded random source (mulberry32): the same sequence for the same seed. Used where runs
// must repeat for a seed (the allocator's tie-breaking, the fleet simulator's timing and failures).

export type Random = () => number;

/** Uniform in [0, 1), the same sequence for the same seed. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
