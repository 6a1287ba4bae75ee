// A network namespace standing in for the host's root namespace in the real-libvirt tests. The
// agent creates a bridge per environment network (`ip link`) and applies per-VM nftables rules,
// both in the namespace it runs in; the sandboxed libvirtd started inside this one plugs QEMU's
// taps into those bridges here too. Deleting the namespace takes bridges, taps and tables with it,
// so a test (even one that dies half-way) leaves nothing on the machine's own network.
import { randomUUID } from "node:crypto";
import { execa } from "execa";
import { type BridgeGateway, LinuxBridges, type RunIp } from "../../agent/src/drivers/libvirt/linux-bridge.js";
import { NftBridgeIsolation } from "../../agent/src/network/bridge-isolation.js";

export interface HostNetworkSandbox {
  /** The namespace's name (for `ip netns exec`). */
  name: string;
  /** The driver's ensureBridge seam: the bridge (its gateway, forwarding) is made in the namespace. */
  ensureBridge(bridge: string, gateway?: BridgeGateway): Promise<void>;
  /** The driver's releaseBridge seam: an unused environment bridge (and its isolation) is removed in the namespace. */
  releaseBridge(bridge: string): Promise<void>;
  /** The driver's nftCommand seam: nft runs in the namespace. */
  nftCommand: readonly string[];
  /** Runs a command in the namespace; its stdout. */
  exec(cmd: string, args: readonly string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startHostNetworkSandbox(): Promise<HostNetworkSandbox> {
  const name = `orbit-lvt-${randomUUID().slice(0, 8)}`;
  await execa("ip", ["netns", "add", name]);
  await execa("ip", ["-n", name, "link", "set", "lo", "up"]);
  const ip: RunIp = async (args) => {
    const r = await execa("ip", ["-n", name, ...args], { reject: false, env: { LC_ALL: "C" }, stdin: "ignore" });
    if (r.exitCode !== 0) throw new Error(`ip -n ${name} ${args.join(" ")}: ${r.stderr.trim()}`);
    return r.stdout;
  };
  // /proc/sys/net is the reading process's namespace: sysctl runs inside this one.
  const sysctl = async (...args: string[]) => (await execa("ip", ["netns", "exec", name, "sysctl", ...args])).stdout.trim();
  const nftCommand = ["ip", "netns", "exec", name, "nft"];
  const bridges = new LinuxBridges(ip, {
    // As on a real host (linux-bridge.ts): environment bridges isolated from each other.
    isolation: new NftBridgeIsolation({ nftCommand }),
    forwarding: { isOn: async () => (await sysctl("-n", "net.ipv4.ip_forward")) === "1", turnOn: async () => { await sysctl("-w", "net.ipv4.ip_forward=1"); } },
  });
  return {
    name,
    ensureBridge: (bridge, gateway) => bridges.ensure(bridge, gateway),
    releaseBridge: async (bridge) => { await bridges.releaseIfUnused(bridge); },
    nftCommand,
    exec: async (cmd, args) => (await execa("ip", ["netns", "exec", name, cmd, ...args])).stdout,
    stop: async () => {
      await execa("ip", ["netns", "del", name], { reject: false });
    },
  };
}

/**
 * Joins two sandboxes with a veth pair and puts `a.address`/`b.address` (same /prefix) on its
 * ends: two hosts on one segment (migration, HA). Deleting either namespace removes the pair.
 */
export async function linkHostNetworkSandboxes(
  a: HostNetworkSandbox, b: HostNetworkSandbox, addrs: { a: string; b: string; prefixLength: number },
): Promise<void> {
  const suffix = randomUUID().slice(0, 6);
  const [ia, ib] = [`vh${suffix}a`, `vh${suffix}b`];
  await execa("ip", ["link", "add", ia, "netns", a.name, "type", "veth", "peer", "name", ib, "netns", b.name]);
  for (const [sb, dev, addr] of [[a, ia, addrs.a], [b, ib, addrs.b]] as const) {
    await execa("ip", ["-n", sb.name, "addr", "add", `${addr}/${addrs.prefixLength}`, "dev", dev]);
    await execa("ip", ["-n", sb.name, "link", "set", dev, "up"]);
  }
}
