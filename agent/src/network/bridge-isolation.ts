// Keeps environments apart at L3 on the host. Every environment network has a Linux bridge
// orb-<network id> with its gateway on it, and the host forwards IPv4 (for floating IPs), so
// without this the host would route a VM's packets from one environment's bridge straight onto
// another's (another account's). One table, its own, so the VM firewall's tables are untouched:
//   table inet orbit_isolation  chain forward (filter, hook forward, priority -200):
//                                 iifname vmap @from_bridge
//                               map from_bridge: "orb-5" : jump from-orb-5, one per bridge
//                               chain from-orb-5: oifname != "orb-5" oifname "orb-*" drop
// nft cannot compare iifname with oifname, hence one chain per bridge. Traffic that stays on a
// bridge is let through even where br_netfilter hands bridged frames to the inet forward hook (it
// then has iif = oif = the bridge). Floating-IP DNAT in from the uplink and SNAT out never go
// bridge -> other bridge, so they pass. Each ensure is one nft transaction that adds what is
// missing and refills the bridge's chain: idempotent, atomic, other bridges untouched.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { HypervisorError, InvalidArgumentError } from "#shared/errors.js";
import type { NftRuleset } from "./vm-firewall.js";

export const ISOLATION_TABLE = { family: "inet", table: "orbit_isolation" } as const;
export const FROM_BRIDGE_MAP = "from_bridge";
/** The prefix of every environment network's bridge (linux-bridge.ts callers name them so). */
export const ENV_BRIDGE_PREFIX = "orb-";
/** nft's "filter" priority: before anything at 0 (iptables, br_netfilter's re-injection). */
export const ISOLATION_PRIORITY = -200;

const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

export function isolationChainName(bridge: string): string {
  return `from-${bridge}`;
}

/** The transaction that isolates `bridge` from every other environment bridge on the host. */
export function buildBridgeIsolation(bridge: string): NftRuleset {
  if (!IFNAME_RE.test(bridge) || !bridge.startsWith(ENV_BRIDGE_PREFIX)) {
    throw new InvalidArgumentError("bridge", `"${bridge}" is not an environment bridge (${ENV_BRIDGE_PREFIX}..., at most 15 characters)`);
  }
  const t = ISOLATION_TABLE;
  const chain = isolationChainName(bridge);
  const oifname = { meta: { key: "oifname" } };
  return {
    nftables: [
      { metainfo: { json_schema_version: 1 } },
      { add: { table: { family: t.family, name: t.table } } },
      { add: { map: { ...t, name: FROM_BRIDGE_MAP, type: "ifname", map: "verdict" } } },
      // Refilled with its one dispatch rule every time: re-adding alone would duplicate it.
      { add: { chain: { ...t, name: "forward", type: "filter", hook: "forward", prio: ISOLATION_PRIORITY, policy: "accept" } } },
      { flush: { chain: { ...t, name: "forward" } } },
      { add: { rule: { ...t, chain: "forward", expr: [{ vmap: { key: { meta: { key: "iifname" } }, data: `@${FROM_BRIDGE_MAP}` } }] } } },
      { add: { chain: { ...t, name: chain } } },
      { flush: { chain: { ...t, name: chain } } },
      {
        add: {
          rule: {
            ...t, chain, expr: [
              { match: { op: "!=", left: oifname, right: bridge } },
              // A trailing * is nft's interface-name wildcard.
              { match: { op: "==", left: oifname, right: `${ENV_BRIDGE_PREFIX}*` } },
              { drop: null },
            ],
          },
        },
      },
      { add: { element: { ...t, name: FROM_BRIDGE_MAP, elem: [[bridge, { jump: { target: chain } }]] } } },
    ],
  };
}

/**
 * The transaction that forgets `bridge` (its map entry and chain), leaving the other bridges'
 * isolation as it is. Idempotent without listing first: nft 1.0.6 (Debian 12) has no "destroy",
 * so what may be missing is added, then deleted, in the same atomic transaction.
 */
export function buildBridgeIsolationRelease(bridge: string): NftRuleset {
  if (!IFNAME_RE.test(bridge) || !bridge.startsWith(ENV_BRIDGE_PREFIX)) {
    throw new InvalidArgumentError("bridge", `"${bridge}" is not an environment bridge (${ENV_BRIDGE_PREFIX}..., at most 15 characters)`);
  }
  const t = ISOLATION_TABLE;
  const chain = isolationChainName(bridge);
  // The forward chain and its dispatch rule stay as they are: the other bridges still use them.
  return {
    nftables: [
      { metainfo: { json_schema_version: 1 } },
      { add: { table: { family: t.family, name: t.table } } },
      { add: { map: { ...t, name: FROM_BRIDGE_MAP, type: "ifname", map: "verdict" } } },
      { add: { chain: { ...t, name: chain } } },
      { flush: { chain: { ...t, name: chain } } },
      { add: { element: { ...t, name: FROM_BRIDGE_MAP, elem: [[bridge, { jump: { target: chain } }]] } } },
      { delete: { element: { ...t, name: FROM_BRIDGE_MAP, elem: [bridge] } } },
      { delete: { chain: { ...t, name: chain } } },
    ],
  };
}

/** What LinuxBridges calls for each bridge it ensures, and forgets. */
export interface BridgeIsolation {
  isolate(bridge: string): Promise<void>;
  /** The bridge is gone: its isolation goes too (nothing happens for one never isolated). */
  release(bridge: string): Promise<void>;
}

export interface NftBridgeIsolationOptions {
  /** The nft command and leading arguments; default ["nft"] (tests: ["ip", "netns", "exec", NS, "nft"]). */
  nftCommand?: readonly string[];
}

/** Applies buildBridgeIsolation with the host's nft (`nft -j -f FILE`). */
export class NftBridgeIsolation implements BridgeIsolation {
  private readonly cmd: readonly string[];

  constructor(o: NftBridgeIsolationOptions = {}) {
    this.cmd = o.nftCommand ?? ["nft"];
  }

  async isolate(bridge: string): Promise<void> {
    await this.apply(bridge, "isolation", buildBridgeIsolation(bridge));
  }

  async release(bridge: string): Promise<void> {
    await this.apply(bridge, "release of the isolation", buildBridgeIsolationRelease(bridge));
  }

  private async apply(bridge: string, what: string, ruleset: NftRuleset): Promise<void> {
    const [bin, ...args] = this.cmd;
    // A file, not stdin: nft opens /dev/stdin, which fails (ENXIO) on a Node child's socket pipe.
    const dir = await mkdtemp(join(tmpdir(), "orbit-nft-"));
    const file = join(dir, "isolation.json");
    const r = await writeFile(file, JSON.stringify(ruleset), { mode: 0o600 })
      .then(() => execa(bin!, [...args, "-j", "-f", file], { reject: false }))
      .finally(() => rm(dir, { recursive: true, force: true }));
    if (r.exitCode !== 0) {
      throw new HypervisorError(`nft refused the ${what} of bridge ${bridge}: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`, { retryable: false });
    }
  }
}
