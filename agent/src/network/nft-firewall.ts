// Applies VM firewalls with the host's nft (libnftables JSON, `nft -j -f FILE`) and reads
// them back with `nft -j list table`. Each apply or removal is one nft transaction: it happens
// whole or not at all, and other VMs' chains are left as they are.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { HypervisorError } from "#shared/errors.js";
import { parseNftListing, type ListedChain, type ListedMapElement, type ListedSet } from "./nft-listing.schema.js";
import {
  BRIDGE_FILTER_PRIORITY, buildVmFirewall, buildVmFirewallRemoval, FILTER_BASE_CHAINS, FILTER_TABLE, NAT_TABLE, vmChainNames,
  type NftFamily, type NftObjectRef, type NftRuleset, type StaleElement, type VmFirewallInput,
} from "./vm-firewall.js";

export interface NftFirewallOptions {
  /** The nft command and leading arguments; default ["nft"] (tests: ["ip", "netns", "exec", NS, "nft"]). */
  nftCommand?: readonly string[];
}

/** What the host holds of one VM's firewall. */
export interface VmFirewallState {
  chains: ListedChain[];
  sets: ListedSet[];
  elements: ListedMapElement[];
}

export class NftFirewall {
  private readonly cmd: readonly string[];

  constructor(o: NftFirewallOptions = {}) {
    this.cmd = o.nftCommand ?? ["nft"];
  }

  /** Replaces the VM's firewall (and NAT) with `input`'s. */
  async apply(input: VmFirewallInput): Promise<void> {
    const names = vmChainNames(input.vmUuid);
    const { vm: current, outdatedBaseChains } = await this.readHost(input.vmUuid);
    // Every element of this VM goes and the wanted ones come back, in the same transaction.
    const stale: StaleElement[] = current.elements.map(toStale);
    const ruleset = buildVmFirewall(input, stale, current.sets.map((c) => c.name), outdatedBaseChains);
    if (input.floatingIp === undefined) {
      const nat = current.chains.filter((c) => c.family === NAT_TABLE.family && (c.name === names.dnat || c.name === names.snat));
      ruleset.nftables.push(...buildVmFirewallRemoval([], nat.map(ref)).nftables);
    }
    await this.run(ruleset);
  }

  /** Removes everything of the VM's firewall; a VM without one is left alone. */
  async remove(vmUuid: string): Promise<void> {
    const current = await this.read(vmUuid);
    const ruleset = buildVmFirewallRemoval(current.elements.map(toStale), current.chains.map(ref), current.sets.map(ref));
    if (ruleset.nftables.length > 0) await this.run(ruleset);
  }

  /** The VM's chains, sets and map elements on the host (none when the tables do not exist yet). */
  async read(vmUuid: string): Promise<VmFirewallState> {
    return (await this.readHost(vmUuid)).vm;
  }

  /** The VM's state, and the shared base chains an earlier agent hooked in at another priority. */
  private async readHost(vmUuid: string): Promise<{ vm: VmFirewallState; outdatedBaseChains: string[] }> {
    const names = vmChainNames(vmUuid);
    const mine = new Set(Object.values(names));
    const vm: VmFirewallState = { chains: [], sets: [], elements: [] };
    const outdatedBaseChains: string[] = [];
    for (const t of [FILTER_TABLE, NAT_TABLE]) {
      const listing = await this.list(t.family, t.table);
      if (!listing) continue;
      vm.chains.push(...listing.chains.filter((c) => mine.has(c.name)));
      vm.sets.push(...listing.sets.filter((c) => mine.has(c.name)));
      vm.elements.push(...listing.elements.filter((e) => mine.has(e.target)));
      if (t === FILTER_TABLE) {
        outdatedBaseChains.push(...listing.chains
          .filter((c) => (FILTER_BASE_CHAINS as readonly string[]).includes(c.name) && c.prio !== undefined && c.prio !== BRIDGE_FILTER_PRIORITY)
          .map((c) => c.name));
      }
    }
    return { vm, outdatedBaseChains };
  }

  /** The table's chains and elements; undefined when it does not exist. */
  async list(family: string, table: string): Promise<ReturnType<typeof parseNftListing> | undefined> {
    const [bin, ...args] = this.cmd;
    const r = await execa(bin!, [...args, "-j", "list", "table", family, table], { reject: false });
    if (r.exitCode !== 0) {
      if (/No such file or directory/.test(r.stderr)) return undefined;
      throw new HypervisorError(`nft list table ${family} ${table} failed: ${r.stderr.trim() || r.stdout.trim()}`);
    }
    return parseNftListing(JSON.parse(r.stdout));
  }

  private async run(ruleset: NftRuleset): Promise<void> {
    const [bin, ...args] = this.cmd;
    // Not stdin: nft opens /dev/stdin, which fails (ENXIO) on the socket a Node child's pipe is.
    const dir = await mkdtemp(join(tmpdir(), "orbit-nft-"));
    const file = join(dir, "ruleset.json");
    const r = await writeFile(file, JSON.stringify(ruleset), { mode: 0o600 })
      .then(() => execa(bin!, [...args, "-j", "-f", file], { reject: false }))
      .finally(() => rm(dir, { recursive: true, force: true }));
    if (r.exitCode !== 0) {
      throw new HypervisorError(`nft refused the firewall transaction: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`, { retryable: false });
    }
  }
}

// The listings read are only of FILTER_TABLE and NAT_TABLE, so their family is one of ours.
function toStale(e: ListedMapElement): StaleElement {
  return { family: e.family as NftFamily, table: e.table, map: e.map, key: e.key };
}

function ref(c: ListedChain): NftObjectRef {
  return { family: c.family as NftFamily, table: c.table, name: c.name };
}
