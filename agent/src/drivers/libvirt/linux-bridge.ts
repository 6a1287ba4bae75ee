// The Linux bridge of an environment network on this host, created (and set up) before a domain
// that plugs into it is defined: `ip -j link show type bridge`, then `ip link add name X type
// bridge` and `ip link set dev X up` when needed. Idempotent, and safe when two starts race for
// the same bridge (the loser's "File exists" is checked to be that bridge). With a gateway, the
// bridge also gets the network's gateway address (`ip -j addr show dev X`, `ip addr add`) and IPv4
// forwarding is turned on if it is off: the host routes DNATed floating-IP traffic onto the bridge
// and the VMs' traffic off it (agent/src/drivers/README.md, Networking). An environment bridge
// (orb-...) is isolated from the others (network/bridge-isolation.ts) before it gets its gateway,
// so the host never routes between two environments. A bridge whose last domain is gone is
// removed with its gateway and isolation (releaseIfUnused, called by the driver).
import { readFile, writeFile } from "node:fs/promises";
import { isIPv4 } from "node:net";
import { execa } from "execa";
import { HypervisorError, InvalidArgumentError } from "#shared/errors.js";
import { type BridgeIsolation, ENV_BRIDGE_PREFIX } from "../../network/bridge-isolation.js";

/** Runs `ip` with these arguments; resolves with stdout, rejects with an Error carrying stderr. */
export type RunIp = (args: readonly string[]) => Promise<string>;

/** A Linux interface name: at most 15 bytes (IFNAMSIZ - 1), no slash, colon or space. */
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

interface IpLink { ifname: string; flags?: string[] }
interface IpAddrInfo { family?: string; local?: string; prefixlen?: number }

/** The network's gateway, put on its bridge: the VMs' default route and the host's side of the network. */
export interface BridgeGateway { address: string; prefixLength: number }

/** The host's IPv4 forwarding switch (net.ipv4.ip_forward of the agent's network namespace). */
export interface Ipv4Forwarding {
  isOn(): Promise<boolean>;
  turnOn(): Promise<void>;
}

/** /proc/sys/net/ipv4/ip_forward: what `sysctl net.ipv4.ip_forward` reads and writes, for the reader's namespace. */
export function procIpv4Forwarding(path = "/proc/sys/net/ipv4/ip_forward"): Ipv4Forwarding {
  return {
    isOn: async () => (await readFile(path, "utf8")).trim() === "1",
    turnOn: () => writeFile(path, "1\n"),
  };
}

export function execaIp(binary = "ip", timeoutMs = 30_000): RunIp {
  return async (args) => {
    const r = await execa(binary, args, { reject: false, timeout: timeoutMs, env: { LC_ALL: "C" }, stdin: "ignore" });
    if (r.exitCode !== 0 || r.failed) throw new Error(`${binary} ${args.join(" ")}: ${(r.stderr || r.message || "").trim()}`);
    return r.stdout;
  };
}

export interface LinuxBridgesOptions {
  /** Default: /proc/sys/net/ipv4/ip_forward. */
  forwarding?: Ipv4Forwarding;
  /** Told when the host's configuration is changed beyond the bridge (forwarding turned on). */
  onNotice?: (message: string) => void;
  /** Keeps environment bridges (orb-...) from routing to each other; none: not isolated. */
  isolation?: BridgeIsolation;
}

export class LinuxBridges {
  private readonly forwarding: Ipv4Forwarding;

  constructor(private readonly ip: RunIp, private readonly opts: LinuxBridgesOptions = {}) {
    this.forwarding = opts.forwarding ?? procIpv4Forwarding();
  }

  /** The bridge exists and is up (and has the gateway, and the host forwards IPv4) once this resolves. */
  async ensure(name: string, gateway?: BridgeGateway): Promise<void> {
    if (!IFNAME_RE.test(name)) throw new InvalidArgumentError("bridge", `"${name}" is not a Linux interface name (1 to 15 letters, digits, _ . -)`);
    if (gateway && (!isIPv4(gateway.address) || !Number.isInteger(gateway.prefixLength) || gateway.prefixLength < 1 || gateway.prefixLength > 32)) {
      throw new InvalidArgumentError("gateway", `"${gateway.address}/${gateway.prefixLength}" is not an IPv4 address with a prefix length of 1 to 32`);
    }
    await this.ensureUp(name);
    if (this.opts.isolation && name.startsWith(ENV_BRIDGE_PREFIX)) await this.opts.isolation.isolate(name);
    if (!gateway) return;
    await this.ensureAddress(name, gateway);
    await this.ensureForwarding();
  }

  /**
   * Removes an environment bridge nothing is plugged into (with its gateway address and its
   * isolation); a bridge that still has ports, or is not an environment bridge (orb-...), stays.
   * Whether a defined but stopped domain still needs it is the caller's question (the driver).
   * Resolves true when the bridge is gone (or was never there).
   */
  async releaseIfUnused(name: string): Promise<boolean> {
    if (!IFNAME_RE.test(name) || !name.startsWith(ENV_BRIDGE_PREFIX)) return false;
    if (!(await this.bridge(name))) {
      await this.opts.isolation?.release(name);
      return true;
    }
    let ports: string;
    try {
      ports = await this.ip(["-j", "link", "show", "master", name]);
    } catch (e) {
      throw new HypervisorError(`cannot list the ports of bridge ${name}: ${(e as Error).message}`);
    }
    if ((ports.trim() === "" ? [] : JSON.parse(ports) as unknown[]).length > 0) return false;
    try {
      await this.ip(["link", "del", "dev", name]);
    } catch (e) {
      // Removed meanwhile by someone else: gone is what was wanted.
      if (await this.bridge(name)) throw new HypervisorError(`cannot remove bridge ${name}: ${(e as Error).message}`);
    }
    await this.opts.isolation?.release(name);
    return true;
  }

  private async ensureUp(name: string): Promise<void> {
    let link = await this.bridge(name);
    if (!link) {
      try {
        await this.ip(["link", "add", "name", name, "type", "bridge"]);
      } catch (e) {
        // Another start created it meanwhile, or an interface that is not a bridge has the name.
        link = await this.bridge(name);
        if (!link) throw new HypervisorError(`cannot create bridge ${name}: ${(e as Error).message}`);
      }
      link ??= await this.bridge(name);
    }
    if (!link?.flags?.includes("UP")) {
      try {
        await this.ip(["link", "set", "dev", name, "up"]);
      } catch (e) {
        throw new HypervisorError(`cannot set bridge ${name} up: ${(e as Error).message}`);
      }
    }
  }

  private async ensureAddress(name: string, gw: BridgeGateway): Promise<void> {
    if (await this.hasAddress(name, gw)) return;
    try {
      await this.ip(["addr", "add", `${gw.address}/${gw.prefixLength}`, "dev", name]);
    } catch (e) {
      // Another start added it meanwhile ("File exists"): fine if it is there now, with that prefix.
      if (await this.hasAddress(name, gw)) return;
      throw new HypervisorError(`cannot add ${gw.address}/${gw.prefixLength} to bridge ${name}: ${(e as Error).message}`);
    }
  }

  private async hasAddress(name: string, gw: BridgeGateway): Promise<boolean> {
    let out: string;
    try {
      out = await this.ip(["-j", "addr", "show", "dev", name]);
    } catch (e) {
      throw new HypervisorError(`cannot list the addresses of bridge ${name}: ${(e as Error).message}`);
    }
    const links = (out.trim() === "" ? [] : JSON.parse(out)) as { addr_info?: IpAddrInfo[] }[];
    const addrs = links.flatMap((l) => l.addr_info ?? []).filter((a) => a.family === "inet" && a.local === gw.address);
    if (addrs.length === 0) return false;
    if (!addrs.some((a) => a.prefixlen === gw.prefixLength)) {
      throw new HypervisorError(`bridge ${name} has ${gw.address}/${addrs[0]!.prefixlen}, not /${gw.prefixLength}: fix it by hand (ip addr del)`);
    }
    return true;
  }

  private async ensureForwarding(): Promise<void> {
    try {
      if (await this.forwarding.isOn()) return;
      await this.forwarding.turnOn();
    } catch (e) {
      throw new HypervisorError(`cannot turn IPv4 forwarding on (net.ipv4.ip_forward): ${(e as Error).message}`);
    }
    this.opts.onNotice?.("turned IPv4 forwarding on (net.ipv4.ip_forward=1): the host routes floating-IP traffic to its VMs' bridges");
  }

  private async bridge(name: string): Promise<IpLink | undefined> {
    let out: string;
    try {
      out = await this.ip(["-j", "link", "show", "type", "bridge"]);
    } catch (e) {
      throw new HypervisorError(`cannot list bridges: ${(e as Error).message}`);
    }
    const links = (out.trim() === "" ? [] : JSON.parse(out)) as IpLink[];
    return links.find((l) => l.ifname === name);
  }
}
