import { describe, expect, it } from "vitest";
import { buildBridgeIsolation, FROM_BRIDGE_MAP, ISOLATION_PRIORITY, ISOLATION_TABLE } from "./bridge-isolation.js";

type Cmd = Record<string, Record<string, Record<string, unknown>>>;

describe("buildBridgeIsolation", () => {
  it("dispatches by input bridge to a chain dropping what leaves by another environment bridge", () => {
    const cmds = buildBridgeIsolation("orb-5").nftables as Cmd[];
    const t = ISOLATION_TABLE;
    expect(cmds).toContainEqual({ add: { table: { family: "inet", name: "orbit_isolation" } } });
    expect(cmds).toContainEqual({ add: { chain: { ...t, name: "forward", type: "filter", hook: "forward", prio: ISOLATION_PRIORITY, policy: "accept" } } });
    const rules = cmds.filter((c) => c.add?.rule).map((c) => c.add!.rule!);
    expect(rules).toEqual([
      { ...t, chain: "forward", expr: [{ vmap: { key: { meta: { key: "iifname" } }, data: `@${FROM_BRIDGE_MAP}` } }] },
      {
        ...t, chain: "from-orb-5", expr: [
          { match: { op: "!=", left: { meta: { key: "oifname" } }, right: "orb-5" } },
          { match: { op: "==", left: { meta: { key: "oifname" } }, right: "orb-*" } },
          { drop: null },
        ],
      },
    ]);
    expect(cmds).toContainEqual({ add: { element: { ...t, name: FROM_BRIDGE_MAP, elem: [["orb-5", { jump: { target: "from-orb-5" } }]] } } });
  });

  it("flushes each chain before refilling it, so applying twice leaves one copy of each rule", () => {
    const cmds = buildBridgeIsolation("orb-12").nftables as Cmd[];
    for (const name of ["forward", "from-orb-12"]) {
      const flush = cmds.findIndex((c) => c.flush?.chain?.name === name);
      const firstRule = cmds.findIndex((c) => c.add?.rule?.chain === name);
      expect(flush).toBeGreaterThan(cmds.findIndex((c) => c.add?.chain?.name === name));
      expect(flush).toBeLessThan(firstRule);
    }
  });

  it("refuses a name that is not an environment bridge", () => {
    for (const bad of ["virbr0", "orb-1234567890123", "orb-1\"; drop", ""]) {
      expect(() => buildBridgeIsolation(bad)).toThrow(/not an environment bridge/);
    }
  });
});
