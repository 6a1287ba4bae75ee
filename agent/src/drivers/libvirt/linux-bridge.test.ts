import { describe, expect, it } from "vitest";
import { LinuxBridges, type RunIp } from "./linux-bridge.js";

/** A fake `ip` over a set of links: records every call, answers as iproute2 does. */
function fakeIp(links: { ifname: string; kind: string; up: boolean }[]): { run: RunIp; calls: string[] } {
  const calls: string[] = [];
  const run: RunIp = async (args) => {
    calls.push(args.join(" "));
    const [a, b, c, d, e] = args;
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
    const links: { ifname: string; kind: string; up: boolean }[] = [];
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
});
