import { describe, expect, it } from "vitest";
import { type Ipv4Forwarding, LinuxBridges, type RunIp } from "./linux-bridge.js";

interface FakeLink { ifname: string; kind: string; up: boolean; addrs?: string[]; master?: string }

/** A fake `ip` over a set of links: records every call, answers as iproute2 does. */
function fakeIp(links: FakeLink[]): { run: RunIp; calls: string[] } {
  const calls: string[] = [];
  const run: RunIp = async (args) => {
    calls.push(args.join(" "));
    const [a, b, c, d, e] = args;
    if (a === "-j" && b === "addr" && c === "show" && d === "dev") {
      const link = links.find((l) => l.ifname === e);
      if (!link) throw new Error(`Device "${e}" does not exist.`);
      const addrInfo = (link.addrs ?? []).map((cidr) => ({ family: "inet", local: cidr.split("/")[0], prefixlen: Number(cidr.split("/")[1]), scope: "global" }));
      return JSON.stringify([{ ifname: link.ifname, addr_info: [{ family: "inet6", local: "fe80::1", prefixlen: 64 }, ...addrInfo] }]);
    }
    if (a === "addr" && b === "add" && d === "dev") {
      const link = links.find((l) => l.ifname === e)!;
      if ((link.addrs ?? []).some((x) => x.split("/")[0] === c!.split("/")[0])) throw new Error("RTNETLINK answers: File exists");
      (link.addrs ??= []).push(c!);
      return "";
    }
    if (a === "-j" && b === "link" && c === "show" && d === "master") {
      if (!links.some((l) => l.ifname === e)) throw new Error(`Device "${e}" does not exist.`);
      return JSON.stringify(links.filter((l) => l.master === e).map((l) => ({ ifname: l.ifname })));
    }
    if (a === "link" && b === "del" && c === "dev") {
      const i = links.findIndex((l) => l.ifname === d);
      if (i < 0) throw new Error(`Cannot find device "${d}"`);
      links.splice(i, 1);
      return "";
    }
    if (a === "-j" && b === "link" && c === "show") {
      return JSON.stringify(links.filter((l) => l.kind === "bridge").map((l) => ({ ifname: l.ifname, flags: l.up ? ["BROADCAST", "UP"] : ["BROADCAST"] })));
    }
    if (a === "link" && b === "add") {
      if (links.some((l) => l.ifname === d)) throw new Error("RTNETLINK answers: File exists");
      links.push({ ifname: d!, kind: e === "type" ? args[5]! : "", up: false });
      return "";
    }
    if (a === "link" && b === "set") {
      links.find((l) => l.ifname === d)!.up = true;
      return "";
    }
    throw new Error(`unexpected ip ${args.join(" ")}`);
  };
  return { run, calls };
}

describe("LinuxBridges", () => {
  it("creates a missing bridge and sets it up, and does nothing more the next time", async () => {
    const links: FakeLink[] = [];
    const ip = fakeIp(links);
    const bridges = new LinuxBridges(ip.run);
    await bridges.ensure("orb-7");
    expect(links).toEqual([{ ifname: "orb-7", kind: "bridge", up: true }]);
    expect(ip.calls).toEqual(["-j link show type bridge", "link add name orb-7 type bridge", "-j link show type bridge", "link set dev orb-7 up"]);
    ip.calls.length = 0;
    await bridges.ensure("orb-7");
    expect(ip.calls).toEqual(["-j link show type bridge"]);
  });

  it("sets an existing bridge that is down up; two concurrent starts both succeed", async () => {
    const links = [{ ifname: "orb-1", kind: "bridge", up: false }];
    const ip = fakeIp(links);
    const bridges = new LinuxBridges(ip.run);
    await Promise.all([bridges.ensure("orb-1"), bridges.ensure("orb-2"), bridges.ensure("orb-2")]);
    expect(links).toEqual([{ ifname: "orb-1", kind: "bridge", up: true }, { ifname: "orb-2", kind: "bridge", up: true }]);
  });

  it("refuses a name Linux would not take and an interface of that name that is not a bridge", async () => {
    const bridges = new LinuxBridges(fakeIp([{ ifname: "eth0", kind: "", up: true }]).run);
    await expect(bridges.ensure("orb-123456789012")).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(bridges.ensure("a b")).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(bridges.ensure("eth0")).rejects.toThrow(/cannot create bridge eth0: .*File exists/);
  });

  it("puts the gateway on the bridge once and turns IPv4 forwarding on only when it is off", async () => {
    const links: FakeLink[] = [];
    const ip = fakeIp(links);
    const sysctl = fakeForwarding(false);
    const notices: string[] = [];
    const bridges = new LinuxBridges(ip.run, { forwarding: sysctl.forwarding, onNotice: (m) => notices.push(m) });
    await bridges.ensure("orb-7", { address: "10.7.0.1", prefixLength: 24 });
    expect(links).toEqual([{ ifname: "orb-7", kind: "bridge", up: true, addrs: ["10.7.0.1/24"] }]);
    expect(ip.calls.slice(4)).toEqual(["-j addr show dev orb-7", "addr add 10.7.0.1/24 dev orb-7"]);
    expect(sysctl.writes).toBe(1);
    expect(notices).toEqual([expect.stringMatching(/ip_forward=1/)]);
    ip.calls.length = 0;
    await bridges.ensure("orb-7", { address: "10.7.0.1", prefixLength: 24 });
    expect(ip.calls).toEqual(["-j link show type bridge", "-j addr show dev orb-7"]);
    expect(sysctl.writes).toBe(1);
    expect(notices).toHaveLength(1);
    // Without a gateway (a NIC with no address) neither the address nor forwarding is touched.
    ip.calls.length = 0;
    await bridges.ensure("orb-8");
    expect(ip.calls.some((c) => c.includes("addr"))).toBe(false);
  });

  it("leaves forwarding that is on alone; two concurrent starts add the gateway once", async () => {
    const links: FakeLink[] = [{ ifname: "orb-3", kind: "bridge", up: true, addrs: [] }];
    const ip = fakeIp(links);
    const sysctl = fakeForwarding(true);
    const bridges = new LinuxBridges(ip.run, { forwarding: sysctl.forwarding });
    const gw = { address: "192.168.3.1", prefixLength: 26 };
    await Promise.all([bridges.ensure("orb-3", gw), bridges.ensure("orb-3", gw)]);
    expect(links[0]!.addrs).toEqual(["192.168.3.1/26"]);
    expect(sysctl.writes).toBe(0);
  });

  it("refuses a bad gateway and a gateway already there with another prefix", async () => {
    const links: FakeLink[] = [{ ifname: "orb-4", kind: "bridge", up: true, addrs: ["10.4.0.1/16"] }];
    const ip = fakeIp(links);
    const bridges = new LinuxBridges(ip.run, { forwarding: fakeForwarding(true).forwarding });
    await expect(bridges.ensure("orb-4", { address: "10.4.0.300", prefixLength: 24 })).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(bridges.ensure("orb-4", { address: "10.4.0.1", prefixLength: 0 })).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(bridges.ensure("orb-4", { address: "10.4.0.1", prefixLength: 24 })).rejects.toThrow(/bridge orb-4 has 10\.4\.0\.1\/16, not \/24/);
    expect(links[0]!.addrs).toEqual(["10.4.0.1/16"]);
  });

  it("says so when forwarding cannot be turned on", async () => {
    const forwarding: Ipv4Forwarding = { isOn: async () => false, turnOn: async () => { throw new Error("EACCES: permission denied"); } };
    const bridges = new LinuxBridges(fakeIp([]).run, { forwarding });
    await expect(bridges.ensure("orb-5", { address: "10.5.0.1", prefixLength: 24 })).rejects.toThrow(/cannot turn IPv4 forwarding on .*EACCES/);
  });
});

/** A stand-in for net.ipv4.ip_forward: counts the writes. */
function fakeForwarding(on: boolean): { forwarding: Ipv4Forwarding; writes: number } {
  const state = { forwarding: undefined as unknown as Ipv4Forwarding, writes: 0 };
  state.forwarding = { isOn: async () => on, turnOn: async () => { on = true; state.writes++; } };
  return state;
}

describe("LinuxBridges with isolation", () => {
  it("isolates an environment bridge before giving it its gateway, and leaves other bridges alone", async () => {
    const links: FakeLink[] = [];
    const order: string[] = [];
    const isolation = { isolate: async (b: string) => { order.push(`isolate ${b} (addrs: ${links.find((l) => l.ifname === b)?.addrs?.length ?? 0})`); }, release: async () => {} };
    const bridges = new LinuxBridges(fakeIp(links).run, { forwarding: fakeForwarding(true).forwarding, isolation });
    await bridges.ensure("orb-9", { address: "10.9.0.1", prefixLength: 24 });
    await bridges.ensure("virbr0");
    expect(order).toEqual(["isolate orb-9 (addrs: 0)"]);
    expect(links.find((l) => l.ifname === "orb-9")?.addrs).toEqual(["10.9.0.1/24"]);
  });

  it("does not add the gateway when the isolation fails", async () => {
    const links: FakeLink[] = [];
    const isolation = { isolate: async () => { throw new Error("nft refused"); }, release: async () => {} };
    const bridges = new LinuxBridges(fakeIp(links).run, { forwarding: fakeForwarding(false).forwarding, isolation });
    await expect(bridges.ensure("orb-3", { address: "10.3.0.1", prefixLength: 24 })).rejects.toThrow(/nft refused/);
    expect(links[0]?.addrs).toBeUndefined();
  });
});

describe("LinuxBridges.releaseIfUnused", () => {
  it("removes an environment bridge with no ports, then its isolation; keeps one with a port, and any other bridge", async () => {
    const links: FakeLink[] = [
      { ifname: "orb-1", kind: "bridge", up: true, addrs: ["10.1.0.1/24"] },
      { ifname: "orb-2", kind: "bridge", up: true },
      { ifname: "vnet3", kind: "tun", up: true, master: "orb-2" },
      { ifname: "virbr0", kind: "bridge", up: true },
    ];
    const released: string[] = [];
    const bridges = new LinuxBridges(fakeIp(links).run, { isolation: { isolate: async () => {}, release: async (b) => { released.push(b); } } });
    expect(await bridges.releaseIfUnused("orb-1")).toBe(true);
    expect(await bridges.releaseIfUnused("orb-2")).toBe(false);
    expect(await bridges.releaseIfUnused("virbr0")).toBe(false);
    expect(links.map((l) => l.ifname)).toEqual(["orb-2", "vnet3", "virbr0"]);
    expect(released).toEqual(["orb-1"]);
    // Already gone: nothing to remove, the isolation is forgotten all the same (idempotent).
    expect(await bridges.releaseIfUnused("orb-1")).toBe(true);
    expect(released).toEqual(["orb-1", "orb-1"]);
  });

  it("keeps the isolation when the bridge cannot be removed", async () => {
    const links: FakeLink[] = [{ ifname: "orb-4", kind: "bridge", up: true }];
    const ip = fakeIp(links);
    const released: string[] = [];
    const run: RunIp = async (args) => {
      if (args[0] === "link" && args[1] === "del") throw new Error("RTNETLINK answers: Operation not permitted");
      return ip.run(args);
    };
    const bridges = new LinuxBridges(run, { isolation: { isolate: async () => {}, release: async (b) => { released.push(b); } } });
    await expect(bridges.releaseIfUnused("orb-4")).rejects.toThrow(/cannot remove bridge orb-4: .*Operation not permitted/);
    expect(released).toEqual([]);
  });
});
