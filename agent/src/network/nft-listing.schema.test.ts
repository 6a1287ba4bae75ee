import { describe, expect, it } from "vitest";
import { ZodError } from "zod";
import { parseNftListing } from "./nft-listing.schema.js";

// `nft -j list table inet orbit` of nft 1.0.6 (Debian 12), one VM applied.
const LISTING = {
  nftables: [
    { metainfo: { version: "1.0.6", release_name: "Lester Gooch #5", json_schema_version: 1 } },
    { table: { family: "inet", name: "orbit", handle: 1 } },
    { map: { family: "inet", name: "vm_ingress", table: "orbit", type: "ifname", handle: 1, map: "verdict", elem: [["tap0", { jump: { target: "vm-0f0e-in" } }]] } },
    { map: { family: "inet", name: "vm_egress", table: "orbit", type: "ifname", handle: 2, map: "verdict" } },
    { set: { family: "inet", name: "other", table: "orbit", type: "ipv4_addr", handle: 3 } },
    { set: { family: "inet", name: "vm-0f0e-flows4", table: "orbit", type: ["ipv4_addr", "ipv4_addr", "inet_proto", "inet_service", "inet_service"], handle: 5, size: 65535, flags: ["timeout"], timeout: 3600, elem: [{ elem: { val: { concat: ["10.0.0.3", "10.0.0.2", "tcp", 40000, 22] }, timeout: 3600, expires: 3599 } }] } },
    { map: { family: "inet", name: "marks", table: "orbit", type: "ipv4_addr", handle: 4, map: "mark", elem: [["10.0.0.1", 7]] } },
    { chain: { family: "inet", table: "orbit", name: "forward", handle: 3, type: "filter", hook: "forward", prio: 0, policy: "accept" } },
    { chain: { family: "inet", table: "orbit", name: "vm-0f0e-in", handle: 4 } },
    { rule: { family: "inet", table: "orbit", chain: "forward", handle: 16, expr: [{ vmap: { key: { meta: { key: "oifname" } }, data: "@vm_ingress" } }] } },
  ],
};

describe("parseNftListing", () => {
  it("reads the chains (a base chain's priority too), the sets (not their elements) and the verdict-map elements, leaving everything else", () => {
    expect(parseNftListing(LISTING)).toEqual({
      chains: [{ family: "inet", table: "orbit", name: "forward", prio: 0 }, { family: "inet", table: "orbit", name: "vm-0f0e-in" }],
      sets: [{ family: "inet", table: "orbit", name: "other" }, { family: "inet", table: "orbit", name: "vm-0f0e-flows4" }],
      elements: [{ family: "inet", table: "orbit", map: "vm_ingress", key: "tap0", target: "vm-0f0e-in" }],
    });
  });

  it("refuses what is not libnftables JSON", () => {
    expect(() => parseNftListing({ tables: [] })).toThrow(ZodError);
    expect(() => parseNftListing({ nftables: [{ chain: { family: "inet", name: "x" } }] })).toThrow(ZodError);
    expect(() => parseNftListing({ nftables: [{ set: { family: "bridge", table: "orbit", name: "s" } }] })).toThrow(ZodError);
    // A verdict element that jumps nowhere names no chain: skipped, not an error.
    expect(parseNftListing({ nftables: [{ map: { family: "inet", table: "orbit", name: "m", map: "verdict", elem: [["tap0", { accept: null }]] } }] }).elements).toEqual([]);
  });
});
