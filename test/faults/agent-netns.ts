// A small network of network namespaces for fault tests whose agents must lose their network:
// a "switch" namespace with a bridge; one namespace per host, plugged into the bridge by a veth
// pair; and a veth from the bridge to the test's own (root) namespace, where the manager listens
// on the gateway address. Hosts reach the manager and each other (neighbour probes: ping, TCP)
// over the bridge. `cut(host)` drops every packet in and out of that host's namespace (nftables,
// loopback excepted): its TCP connections stay open but nothing passes, as with a pulled cable.
// `destroy()` deletes the namespaces, which takes every veth (the root end too) with them.
// Needs root (ip netns, nft); `netnsUnavailable()` says why not.
import { execFile } from "node:child_process";
import { randomInt, randomUUID } from "node:crypto";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

async function sh(cmd: string, args: string[]): Promise<string> {
  try {
    return (await run(cmd, args, { timeout: 10_000, env: { PATH: process.env.PATH, LC_ALL: "C" } })).stdout;
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`${cmd} ${args.join(" ")}: ${err.stderr?.trim() || err.message}`);
  }
}

const hasTool = (t: string) => ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].some((d) => existsSync(`${d}/${t}`));

/** Why namespaces cannot be made here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (userInfo().uid !== 0) return "not root (ip netns and nft need root)";
  for (const t of ["ip", "nft", "ping"]) if (!hasTool(t)) return `no \`${t}\` on this machine`;
  return undefined;
}

export class HostNetwork {
  /** The gateway's address in the test's namespace: what the manager's gRPC listens on. */
  readonly gateway: string;
  private readonly hosts = new Map<string, { ns: string; address: string }>();
  private readonly cuts = new Set<string>();

  private constructor(private readonly id: string, private readonly prefix: string) {
    this.gateway = `${prefix}.1`;
  }

  private get switchNs(): string {
    return `orbit-fn-${this.id}-sw`;
  }

  /** The switch and the gateway on a /24 of 10.0.0.0/8 that no route of this machine uses. */
  static async create(): Promise<HostNetwork> {
    const why = netnsUnavailable();
    if (why) throw new Error(`network namespaces unavailable: ${why}`);
    const routes = await sh("ip", ["-4", "route", "show"]);
    let prefix = "";
    for (let i = 0; i < 20 && !prefix; i++) {
      const p = `10.${randomInt(100, 250)}.${randomInt(1, 250)}`;
      if (!routes.includes(`${p}.`) && !routes.includes("10.0.0.0/8")) prefix = p;
    }
    if (!prefix) throw new Error("no free 10.x.y.0/24 for the test network");
    const n = new HostNetwork(randomUUID().slice(0, 6), prefix);
    try {
      await sh("ip", ["netns", "add", n.switchNs]);
      await sh("ip", ["-n", n.switchNs, "link", "add", "br0", "type", "bridge"]);
      await sh("ip", ["-n", n.switchNs, "link", "set", "br0", "up"]);
      const rootEnd = `ofn${n.id}`;
      await sh("ip", ["link", "add", rootEnd, "type", "veth", "peer", "name", "uplink", "netns", n.switchNs]);
      await sh("ip", ["-n", n.switchNs, "link", "set", "uplink", "master", "br0", "up"]);
      await sh("ip", ["addr", "add", `${n.gateway}/24`, "dev", rootEnd]);
      await sh("ip", ["link", "set", rootEnd, "up"]);
    } catch (e) {
      await n.destroy();
      throw e;
    }
    return n;
  }

  /** A namespace for one host, plugged into the switch; its address on the test network. */
  async addHost(name: string): Promise<{ ns: string; address: string }> {
    const i = this.hosts.size + 10;
    const host = { ns: `orbit-fn-${this.id}-${i}`, address: `${this.prefix}.${i}` };
    await sh("ip", ["netns", "add", host.ns]);
    await sh("ip", ["-n", host.ns, "link", "set", "lo", "up"]);
    await sh("ip", ["link", "add", "eth0", "netns", host.ns, "type", "veth", "peer", "name", `port${i}`, "netns", this.switchNs]);
    await sh("ip", ["-n", this.switchNs, "link", "set", `port${i}`, "master", "br0", "up"]);
    await sh("ip", ["-n", host.ns, "addr", "add", `${host.address}/24`, "dev", "eth0"]);
    await sh("ip", ["-n", host.ns, "link", "set", "eth0", "up"]);
    this.hosts.set(name, host);
    return host;
  }

  /** Every packet in or out of the host's namespace is dropped from now on (loopback excepted). */
  async cut(name: string): Promise<void> {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no host ${name} on the test network`);
    const rules = "table inet orbit_cut {\n"
      + "  chain in { type filter hook input priority -300; policy drop; iif lo accept; }\n"
      + "  chain out { type filter hook output priority -300; policy drop; oif lo accept; }\n}\n";
    const file = path.join(tmpdir(), `orbit-cut-${this.id}-${name}.nft`);
    writeFileSync(file, rules);
    try {
      await sh("ip", ["netns", "exec", h.ns, "nft", "-f", file]);
    } finally {
      rmSync(file, { force: true });
    }
    this.cuts.add(name);
  }

  /** The cut is mended: packets pass again (connections that survived go on). */
  async mend(name: string): Promise<void> {
    const h = this.hosts.get(name)!;
    await sh("ip", ["netns", "exec", h.ns, "nft", "delete", "table", "inet", "orbit_cut"]);
    this.cuts.delete(name);
  }

  async destroy(): Promise<void> {
    for (const h of this.hosts.values()) await sh("ip", ["netns", "del", h.ns]).catch(() => undefined);
    await sh("ip", ["netns", "del", this.switchNs]).catch(() => undefined);
  }
}
