import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "#shared/errors.js";
import { CloudInit } from "#shared/protocol.js";
import { buildMetaData, buildNetworkConfig, buildSeedFiles, buildUserData, sanitizeHostname } from "./cloud-init-seed.js";

const ci = (over: Partial<CloudInit> = {}): CloudInit => CloudInit.fromPartial(over);

describe("cloud-init NoCloud seed files", () => {
  it("takes the spec's instance-id over the VM's uuid when it has one (a reset SSH key re-runs cloud-init)", () => {
    expect(parse(buildMetaData({ instanceId: "vm-uuid", defaultHostname: "h", cloudInit: ci({ instanceId: "" }) }))["instance-id"]).toBe("vm-uuid");
    expect(parse(buildMetaData({ instanceId: "vm-uuid", defaultHostname: "h", cloudInit: ci({ instanceId: "new-id" }) }))["instance-id"]).toBe("new-id");
  });

  it("writes instance-id and local-hostname into meta-data, letting the user's meta-data add keys", () => {
    const meta = parse(buildMetaData({ instanceId: "vm-1", defaultHostname: "Web 1", cloudInit: ci({ metaData: "region: eu\n" }) }));
    expect(meta).toEqual({ "instance-id": "vm-1", "local-hostname": "web-1", region: "eu" });
    const named = parse(buildMetaData({ instanceId: "vm-1", defaultHostname: "x", cloudInit: ci({ hostname: "db" }) }));
    expect(named["local-hostname"]).toBe("db");
  });

  it("merges SSH keys into the user's #cloud-config without duplicates", () => {
    const userData = "#cloud-config\npackages: [htop]\nssh_authorized_keys:\n  - ssh-ed25519 AAA user\n";
    const out = buildUserData(ci({ userData, sshAuthorizedKeys: ["ssh-ed25519 AAA user", "ssh-rsa BBB orbit"] }));
    expect(out.startsWith("#cloud-config\n")).toBe(true);
    expect(parse(out)).toEqual({ packages: ["htop"], ssh_authorized_keys: ["ssh-ed25519 AAA user", "ssh-rsa BBB orbit"] });
  });

  it("makes a minimal #cloud-config when there is no user-data", () => {
    const out = buildUserData(ci({ sshAuthorizedKeys: ["ssh-rsa K"], hostname: "h1" }));
    expect(out.split("\n")[0]).toBe("#cloud-config");
    expect(parse(out)).toEqual({ ssh_authorized_keys: ["ssh-rsa K"], hostname: "h1" });
    expect(buildUserData(ci())).toBe("#cloud-config\n");
  });

  it("passes non-cloud-config user-data through and puts the keys into meta-data instead", () => {
    const script = "#!/bin/sh\necho hi > /tmp/x\n";
    const files = buildSeedFiles({ instanceId: "i", defaultHostname: "h", cloudInit: ci({ userData: script, sshAuthorizedKeys: ["ssh-rsa K"] }) });
    expect(files["user-data"]).toBe(script);
    expect(parse(files["meta-data"])["public-keys"]).toEqual(["ssh-rsa K"]);
  });

  it("rejects broken YAML with the field named", () => {
    const err = (() => {
      try {
        buildUserData(ci({ userData: "#cloud-config\nfoo: [unclosed\n" }));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).field).toBe("cloudInit.userData");
    expect(() => buildUserData(ci({ userData: "#cloud-config\nssh_authorized_keys: one\n", sshAuthorizedKeys: ["k"] }))).toThrow(InvalidArgumentError);
  });

  it("builds a v2 network-config matching NICs by MAC, or passes the user's through", () => {
    const net = buildNetworkConfig(ci(), [{ mac: "52:54:00:AA:00:01", bridge: "br0", model: "", ipAddress: "", prefixLength: 0, gateway: "", floatingIp: "" }, { mac: "", bridge: "br1", model: "", ipAddress: "", prefixLength: 0, gateway: "", floatingIp: "" }]);
    expect(parse(net!)).toEqual({
      version: 2,
      ethernets: { nic0: { match: { macaddress: "52:54:00:aa:00:01" }, "set-name": "eth0", dhcp4: true, dhcp6: true } },
    });
    expect(buildNetworkConfig(ci())).toBeUndefined();
    const fixed = { mac: "52:54:00:aa:00:02", bridge: "orb-1", model: "virtio", ipAddress: "10.128.0.5", prefixLength: 24, gateway: "10.128.0.1", floatingIp: "" };
    expect(parse(buildNetworkConfig(ci(), [fixed])!)).toEqual({
      version: 2,
      ethernets: { nic0: { match: { macaddress: "52:54:00:aa:00:02" }, "set-name": "eth0", dhcp4: false, addresses: ["10.128.0.5/24"], routes: [{ to: "default", via: "10.128.0.1" }] } },
    });
    const own = "version: 2\nethernets: {eth0: {dhcp4: false}}\n";
    expect(buildNetworkConfig(ci({ networkConfig: own }), [{ mac: "52:54:00:aa:00:01", bridge: "b", model: "", ipAddress: "", prefixLength: 0, gateway: "", floatingIp: "" }])).toBe(own);
    expect(buildSeedFiles({ instanceId: "i", defaultHostname: "h", cloudInit: ci() })["network-config"]).toBeUndefined();
  });

  it("sanitises hostnames", () => {
    expect(sanitizeHostname("My_VM.01")).toBe("my-vm-01");
    expect(sanitizeHostname("___")).toBe("orbit-vm");
  });
});
