import { describe, expect, it } from "vitest";
import { SettingsRegistry } from "../settings/settings-registry.js";
import { NETWORK_SETTING, NETWORK_SETTINGS, networkDefaults } from "./network-settings.js";

describe("network settings", () => {
  it("default to 10.128.0.0/9, /24 networks and two public resolvers; refuse what would fail at create", () => {
    const r = new SettingsRegistry(NETWORK_SETTINGS);
    expect(networkDefaults(r)).toEqual({ supernet: "10.128.0.0/9", prefix: 24, nameservers: ["1.1.1.1", "8.8.8.8"] });
    r.setLocal(NETWORK_SETTING.nameservers, " 9.9.9.9 , 2620:fe::fe");
    r.setLocal(NETWORK_SETTING.supernet, "172.16.0.0/12");
    expect(networkDefaults(r)).toMatchObject({ supernet: "172.16.0.0/12", nameservers: ["9.9.9.9", "2620:fe::fe"] });
    expect(() => r.setLocal(NETWORK_SETTING.supernet, "10.128.0.1/9")).toThrow(/host bits set/);
    expect(() => r.setLocal(NETWORK_SETTING.supernet, "fd00::/8")).toThrow(/IPv4 CIDR/);
    expect(() => r.setLocal(NETWORK_SETTING.nameservers, "1.1.1.1,dns.example")).toThrow(/IP addresses/);
    expect(() => r.setLocal(NETWORK_SETTING.nameservers, "1.1.1.1,1.0.0.1,8.8.8.8,8.8.4.4")).toThrow(/at most 3/);
    expect(() => r.setLocal(NETWORK_SETTING.prefix, 30)).toThrow(/between 16 and 29/);
  });
});
