import { describe, expect, it } from "vitest";
import { contains, firstFreeBlock, gatewayOf, intToIp, ipToInt, overlaps, parseCidr, poolAddressRange, vmAddressRange } from "./cidr.js";

const c = (t: string) => parseCidr(t, "cidr");

describe("CIDR arithmetic", () => {
  it("parses IPv4 CIDRs to integer ranges and refuses host bits and non-CIDRs (400 naming the field)", () => {
    expect(c("10.128.3.0/24")).toEqual({ text: "10.128.3.0/24", prefix: 24, first: ipToInt("10.128.3.0"), last: ipToInt("10.128.3.255") });
    expect(intToIp(ipToInt("192.168.1.77"))).toBe("192.168.1.77");
    expect(() => c("10.128.3.1/24")).toThrow(/host bits set; the network is 10.128.3.0\/24/);
    for (const bad of ["10.0.0.0", "10.0.0.0/33", "fd00::/64", "x/24", ""]) {
      expect(() => parseCidr(bad, "floating_ip_pool")).toThrow(expect.objectContaining({ code: "invalid_argument", field: "floating_ip_pool" }));
    }
  });

  it("detects overlaps and containment", () => {
    expect(overlaps(c("10.0.0.0/8"), c("10.200.0.0/24"))).toBe(true);
    expect(overlaps(c("10.0.0.0/25"), c("10.0.0.128/25"))).toBe(false);
    expect(overlaps(c("10.0.0.0/24"), c("10.0.0.255/32"))).toBe(true);
    expect(contains(c("10.0.0.0/24"), "10.0.0.200")).toBe(true);
    expect(contains(c("10.0.0.0/24"), "10.0.1.0")).toBe(false);
  });

  it("gives VMs the addresses between the gateway and the broadcast address", () => {
    const n = c("192.168.50.0/29");
    expect(gatewayOf(n)).toBe("192.168.50.1");
    const r = vmAddressRange(n);
    expect([intToIp(r.first), intToIp(r.last)]).toEqual(["192.168.50.2", "192.168.50.6"]);
    const p = poolAddressRange(c("203.0.113.0/30"));
    expect([intToIp(p.first), intToIp(p.last)]).toEqual(["203.0.113.1", "203.0.113.2"]);
    const one = poolAddressRange(c("203.0.113.9/32"));
    expect([intToIp(one.first), intToIp(one.last)]).toEqual(["203.0.113.9", "203.0.113.9"]);
  });

  it("finds the first block of a supernet that overlaps nothing taken, or none", () => {
    const supernet = c("10.128.0.0/22");
    expect(firstFreeBlock(supernet, 24, [])?.text).toBe("10.128.0.0/24");
    expect(firstFreeBlock(supernet, 24, [c("10.128.0.0/24"), c("10.128.1.0/24")])?.text).toBe("10.128.2.0/24");
    // A larger or misaligned block in the way is skipped whole.
    expect(firstFreeBlock(supernet, 24, [c("10.128.0.0/23")])?.text).toBe("10.128.2.0/24");
    expect(firstFreeBlock(supernet, 24, [c("10.128.1.128/25")])?.text).toBe("10.128.0.0/24");
    expect(firstFreeBlock(supernet, 24, [c("10.128.0.0/24"), c("10.128.1.128/25")])?.text).toBe("10.128.2.0/24");
    expect(firstFreeBlock(supernet, 24, [c("10.0.0.0/8")])).toBeUndefined();
    expect(firstFreeBlock(supernet, 24, [c("10.128.0.0/23"), c("10.128.2.0/24"), c("10.128.3.0/24")])).toBeUndefined();
  });
});
