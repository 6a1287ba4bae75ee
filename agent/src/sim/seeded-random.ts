// The simulator's seeds: its timing and failures repeat for a seed (the generator is shared/).
export { seededRandom, type Random } from "#shared/seeded-random.js";

/** A seed for one host of a fleet: hosts draw from independent sequences. */
export function hostSeed(fleetSeed: number, index: number): number {
  return (Math.imul(fleetSeed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
}
