// The part of `nft -j list table ...` (libnftables JSON) the firewall reads back: its chains, its
// sets (a VM's flow sets) and the elements of its verdict maps. Everything else in the listing is let through unread.
import { z } from "zod";

const Verdict = z.union([
  z.object({ jump: z.object({ target: z.string() }) }),
  z.object({ goto: z.object({ target: z.string() }) }),
]);

/** One map element: [key, verdict]. Keys of our maps are strings (an ifname or an IPv4 address). */
const MapElement = z.tuple([z.string(), Verdict]);

const MapObject = z.object({
  family: z.string(),
  table: z.string(),
  name: z.string(),
  map: z.string(),
  elem: z.array(z.unknown()).optional(),
});

const ChainObject = z.object({ family: z.string(), table: z.string(), name: z.string(), prio: z.number().optional() });
const SetObject = z.object({ family: z.string(), table: z.string(), name: z.string(), type: z.union([z.string(), z.array(z.string())]) });

export const NftListing = z.object({
  nftables: z.array(z.record(z.string(), z.unknown())),
});

export interface ListedMapElement { family: string; table: string; map: string; key: string; target: string }
/** A chain; a base chain (one hooked in) also has its priority. */
export interface ListedChain { family: string; table: string; name: string; prio?: number | undefined }
/** A set (not a map: those are listed as "map"); its elements are not read. */
export interface ListedSet { family: string; table: string; name: string }

/** The chains, sets and verdict-map elements of a listing; ZodError when it is not libnftables JSON. */
export function parseNftListing(json: unknown): { chains: ListedChain[]; sets: ListedSet[]; elements: ListedMapElement[] } {
  const chains: ListedChain[] = [];
  const sets: ListedSet[] = [];
  const elements: ListedMapElement[] = [];
  for (const obj of NftListing.parse(json).nftables) {
    if ("chain" in obj) chains.push(ChainObject.parse(obj.chain));
    if ("set" in obj) {
      const { family, table, name } = SetObject.parse(obj.set);
      sets.push({ family, table, name });
    }
    if ("map" in obj) {
      const m = MapObject.parse(obj.map);
      if (m.map !== "verdict") continue;
      for (const e of m.elem ?? []) {
        // Elements that jump nowhere (accept, drop) name no chain: none of a VM's.
        const parsed = MapElement.safeParse(e);
        if (!parsed.success) continue;
        const [key, verdict] = parsed.data;
        const target = "jump" in verdict ? verdict.jump.target : verdict.goto.target;
        elements.push({ family: m.family, table: m.table, map: m.name, key, target });
      }
    }
  }
  return { chains, sets, elements };
}
