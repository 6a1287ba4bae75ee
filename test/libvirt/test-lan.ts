// One network segment for the multi-host real-libvirt tests: a bridge in a "switch" namespace of
// the test's own, the manager (this process, the machine's root namespace) on it through one veth,
// and each host's namespace (host-network-sandbox.ts) on it through a veth of its own. Agents in
// those namespaces reach the manager's gRPC on `managerAddress`; libvirtd reach each other for
// migration on their hosts' addresses. Pulling a host's cable (`cut`) leaves it alone on its
// namespace: no manager, no neighbours, as a host whose network died. Deleting the switch
// namespace takes every veth pair (the root namespace's end too) with it.
import { randomInt, randomUUID } from "node:crypto";
import { execa } from "execa";
import type { HostNetworkSandbox } from "./host-network-sandbox.js";

export interface TestLan {
  /** The switch namespace's name. */
  name: string;
  /** The manager's address on the segment (the root namespace's end): bind its gRPC here. */
  managerAddress: string;
  /** Gives a host this segment's next address; the address. */
  plug(host: HostNetworkSandbox): Promise<string>;
  /** The host's cable pulled (its end of the veth down): it reaches nothing and nothing reaches it. */
  cut(host: HostNetworkSandbox): Promise<void>;
  /** The cable plugged back. */
  mend(host: HostNetworkSandbox): Promise<void>;
  /** What the host sends is capped at `mbit` Mbit/s (tc tbf on its end), or no longer with `undefined`. */
  throttle(host: HostNetworkSandbox, mbit: number | undefined): Promise<void>;
  stop(): Promise<void>;
}

const command = (tool: "ip" | "tc") => async (args: string[]): Promise<void> => {
  const r = await execa(tool, args, { reject: false, env: { LC_ALL: "C" }, stdin: "ignore" });
  if (r.exitCode !== 0) throw new Error(`${tool} ${args.join(" ")}: ${r.stderr.trim()}`);
};
const run = command("ip");
const tc = command("tc");

/** A /24 of 10.252.0.0/16 that no route of the machine's uses yet (concurrent runs pick others). */
async function freeSubnet(): Promise<string> {
  const routes = (await execa("ip", ["-4", "route", "show", "table", "all"], { reject: false })).stdout;
  for (let i = 0; i < 50; i++) {
    const prefix = `10.252.${randomInt(1, 255)}`;
    if (!routes.includes(`${prefix}.`)) return prefix;
  }
  throw new Error("no free 10.252.x.0/24 for the test LAN");
}

export async function startTestLan(): Promise<TestLan> {
  const id = randomUUID().slice(0, 6);
  const sw = `orbit-lan-${id}`;
  const prefix = await freeSubnet();
  const managerAddress = `${prefix}.1`;
  const links = new Map<string, string>();
  let next = 2;
  let started = false;
  const stop = async (): Promise<void> => {
    await execa("ip", ["netns", "del", sw], { reject: false });
  };
  try {
    await run(["netns", "add", sw]);
    started = true;
    await run(["-n", sw, "link", "set", "lo", "up"]);
    await run(["-n", sw, "link", "add", "br0", "type", "bridge"]);
    await run(["-n", sw, "link", "set", "br0", "up"]);
    const [root, port] = [`vl${id}m`, `vl${id}p0`];
    await run(["link", "add", root, "type", "veth", "peer", "name", port, "netns", sw]);
    await run(["-n", sw, "link", "set", port, "master", "br0", "up"]);
    await run(["addr", "add", `${managerAddress}/24`, "dev", root]);
    await run(["link", "set", root, "up"]);
  } catch (e) {
    if (started) await stop();
    throw e;
  }
  return {
    name: sw,
    managerAddress,
    plug: async (host) => {
      const n = next++;
      const [dev, port] = [`vl${id}h${n}`, `vl${id}p${n}`];
      const address = `${prefix}.${n}`;
      await run(["link", "add", dev, "netns", host.name, "type", "veth", "peer", "name", port, "netns", sw]);
      await run(["-n", sw, "link", "set", port, "master", "br0", "up"]);
      await run(["-n", host.name, "addr", "add", `${address}/24`, "dev", dev]);
      await run(["-n", host.name, "link", "set", dev, "up"]);
      links.set(host.name, dev);
      return address;
    },
    cut: async (host) => run(["-n", host.name, "link", "set", linkOf(links, host), "down"]),
    mend: async (host) => run(["-n", host.name, "link", "set", linkOf(links, host), "up"]),
    throttle: async (host, mbit) => {
      const dev = linkOf(links, host);
      if (mbit === undefined) return tc(["-n", host.name, "qdisc", "del", "dev", dev, "root"]);
      return tc(["-n", host.name, "qdisc", "replace", "dev", dev, "root", "tbf", "rate", `${mbit}mbit`, "burst", "32kbit", "latency", "400ms"]);
    },
    stop,
  };
}

function linkOf(links: Map<string, string>, host: HostNetworkSandbox): string {
  const dev = links.get(host.name);
  if (!dev) throw new Error(`${host.name} is not on this LAN`);
  return dev;
}
