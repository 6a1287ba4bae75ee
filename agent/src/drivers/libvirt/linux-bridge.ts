// The Linux bridge of an environment network on this host, created (and set up) before a domain
// that plugs into it is defined: `ip -j link show type bridge`, then `ip link add name X type
// bridge` and `ip link set dev X up` when needed. Idempotent, and safe when two starts race for
// the same bridge (the loser's "File exists" is checked to be that bridge). No address is put on
// the bridge: the host does not route for the network yet (agent/src/drivers/README.md).
import { execa } from "execa";
import { HypervisorError, InvalidArgumentError } from "#shared/errors.js";

/** Runs `ip` with these arguments; resolves with stdout, rejects with an Error carrying stderr. */
export type RunIp = (args: readonly string[]) => Promise<string>;

/** A Linux interface name: at most 15 bytes (IFNAMSIZ - 1), no slash, colon or space. */
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

interface IpLink { ifname: string; flags?: string[] }

export function execaIp(binary = "ip", timeoutMs = 30_000): RunIp {
  return async (args) => {
    const r = await execa(binary, args, { reject: false, timeout: timeoutMs, env: { LC_ALL: "C" }, stdin: "ignore" });
    if (r.exitCode !== 0 || r.failed) throw new Error(`${binary} ${args.join(" ")}: ${(r.stderr || r.message || "").trim()}`);
    return r.stdout;
  };
}

export class LinuxBridges {
  constructor(private readonly ip: RunIp) {}

  /** The bridge exists and is up once this resolves. */
  async ensure(name: string): Promise<void> {
    if (!IFNAME_RE.test(name)) throw new InvalidArgumentError("bridge", `"${name}" is not a Linux interface name (1 to 15 letters, digits, _ . -)`);
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
