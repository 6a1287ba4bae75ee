// The settings of environment networks: where their CIDRs are chosen from when the admin sets
// none, and the nameservers VMs are given.
import ipaddr from "ipaddr.js";
import { z } from "zod";
import type { SettingDefinition, SettingsRegistry } from "../settings/settings-registry.js";
import type { SettingContext } from "../settings/setting-scope.js";
import { parseCidr } from "./cidr.js";

export const NETWORK_SETTING = {
  supernet: "network.private.supernet",
  prefix: "network.private.prefix",
  nameservers: "network.nameservers",
} as const;

export const NETWORK_SETTINGS: SettingDefinition[] = [
  {
    name: NETWORK_SETTING.supernet,
    description: "IPv4 block an environment's private network is chosen from (the first free block of network.private.prefix) when the admin sets no CIDR.",
    schema: z.string().refine((v) => ipaddr.IPv4.isValidCIDR(v), "must be an IPv4 CIDR such as 10.128.0.0/9"),
    // Host bits set: refused now, not at the next create.
    check: (v: string) => { parseCidr(v, NETWORK_SETTING.supernet); },
    default: "10.128.0.0/9",
    scopes: ["environment", "account"],
  },
  {
    name: NETWORK_SETTING.prefix,
    description: "Prefix length of the private networks chosen automatically (24: 253 VMs per environment).",
    schema: z.number().int(),
    range: { min: 16, max: 29 },
    default: 24,
    scopes: ["environment", "account"],
  },
  {
    name: NETWORK_SETTING.nameservers,
    description: "DNS servers (comma-separated IP addresses, at most 3) written into the cloud-init network-config of VMs on networks created from now on.",
    // A string: settings are numbers or strings (GET /v1/admin/settings).
    schema: z.string().refine((v) => {
      const list = splitList(v);
      return list.length <= 3 && list.every((a) => ipaddr.isValid(a));
    }, "must be at most 3 comma-separated IP addresses"),
    default: "1.1.1.1,8.8.8.8",
    scopes: ["environment", "account"],
  },
] as SettingDefinition[];

export interface NetworkDefaults { supernet: string; prefix: number; nameservers: string[] }

/** The settings for a new network: environment > account > global (setting-scope.ts). */
export function networkDefaults(registry: Pick<SettingsRegistry, "resolve">, ctx: SettingContext = {}): NetworkDefaults {
  return {
    supernet: registry.resolve<string>(NETWORK_SETTING.supernet, ctx),
    prefix: registry.resolve<number>(NETWORK_SETTING.prefix, ctx),
    nameservers: splitList(registry.resolve<string>(NETWORK_SETTING.nameservers, ctx)),
  };
}

function splitList(v: string): string[] {
  return v.split(",").map((x) => x.trim()).filter((x) => x !== "");
}
