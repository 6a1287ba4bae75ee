// A small seeded random source (mulberry32): the simulator's timing and failures repeat for a seed.

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

/** A seed for one host of a fleet: hosts draw from independent sequences. */
export function hostSeed(fleetSeed: number, index: number): number {
  return (Math.imul(fleetSeed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
}
